"""A PostgreSQL server of the local topology (and of the tests): a cluster in a folder, on a loopback port, started
with the server binaries Debian installs (`/usr/lib/postgresql/<v>/bin`), as the `postgres` user when run as root
(initdb refuses root). A temporary cluster is removed when stopped; a named folder is kept and reused."""

from __future__ import annotations

import getpass
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from service.adapters.llm.local_runtime import free_port


def server_bin() -> Path | None:
    """The folder of `initdb` and `pg_ctl`, or None when PostgreSQL's server is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """`with PostgresServer() as pg:` then `pg.url` (a SQLAlchemy URL for psycopg 3)."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        bin_dir = server_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's server binaries are missing (Debian: apt-get install postgresql)")
        self.bin = bin_dir
        self.port = port or free_port()
        self.keep = folder is not None
        self.user = "postgres" if os.geteuid() == 0 else getpass.getuser()
        if folder is None:
            self.dir = Path(tempfile.mkdtemp(prefix="dossier-pg-"))
        elif os.geteuid() == 0:  # the postgres user may not reach into root's folders: a fixed place under /tmp
            digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
            self.dir = Path(tempfile.gettempdir()) / f"dossier-pg-{digest}"
        else:
            self.dir = folder.resolve()
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = str(self.dir / "data")
        if not (self.dir / "data" / "PG_VERSION").exists():
            self._run("initdb", "-D", data, "-A", "trust", "-U", self.user, "--no-sync")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", data, "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if probe.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start")

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast" if self.keep else "immediate", "stop")
        finally:
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
