"""A real PostgreSQL server for tests: a fresh cluster in a temporary folder on a free loopback port, started with
the server binaries Debian installs (`/usr/lib/postgresql/<v>/bin`), as the `postgres` user when run as root
(initdb refuses root). Stopped and removed afterwards."""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from service.adapters.local_runtime import free_port


def server_bin() -> Path | None:
    """The folder of `initdb` and `pg_ctl`, or None when PostgreSQL's server is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """`with PostgresServer() as pg:` then `pg.url` (a SQLAlchemy URL for psycopg 3)."""

    def __init__(self) -> None:
        bin_dir = server_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's server binaries are missing (Debian: apt-get install postgresql)")
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dossier-pg-"))
        self.user = "postgres" if os.geteuid() == 0 else getpass.getuser()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = str(self.dir / "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", self.user, "--no-sync")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", data, "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                   capture_output=True)  # fmt: skip
            if probe.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start")

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
