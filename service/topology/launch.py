"""The scale-out topology as plain processes on one machine (what `compose.yaml` runs as containers).

Postgres (documents, jobs, the lexical index, the job queue), a Chroma server (`chroma run`), one model server (the
embedded llama.cpp under Dossier's supervisor, or any OpenAI-compatible URL given), API replicas that share them
and hold no state of their own, and batch workers fed through the Postgres queue. Every process logs to
`<folder>/logs/<name>.log`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.adapters.llm.local_runtime import free_port
from service.config import Settings
from service.topology.postgres import PostgresServer


@dataclass
class Part:
    """One process of the topology."""

    name: str
    proc: subprocess.Popen[bytes]
    cmd: list[str]
    env: dict[str, str]
    url: str | None = None


@dataclass
class Topology:
    """`with Topology(folder) as t:` starts everything and waits until each part answers; leaving stops it all."""

    folder: Path
    replicas: int = 2
    workers: int = 2
    llm_base_url: str | None = None  # an OpenAI-compatible server to use instead of starting the embedded model
    llm_model: str | None = None
    database_url: str | None = None  # an existing Postgres instead of a local cluster in `folder`
    env: dict[str, str] = field(default_factory=dict)  # more DOSSIER_* settings for replicas and workers
    parts: list[Part] = field(default_factory=list)
    postgres: PostgresServer | None = None
    startup_timeout_s: float = 300.0

    @property
    def api_urls(self) -> list[str]:
        return [p.url for p in self.parts if p.name.startswith("api-") and p.url]

    def worker(self, i: int) -> Part:
        return next(p for p in self.parts if p.name == f"worker-{i}")

    def __enter__(self) -> Topology:
        self.folder = self.folder.resolve()
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        settings = Settings()
        database_url = self.database_url
        if database_url is None:
            self.postgres = PostgresServer(self.folder / "postgres").__enter__()
            database_url = self.postgres.url
        chroma_port = free_port()
        chroma = self._spawn(
            "chroma",
            [
                _bin("chroma"),
                "run",
                "--path",
                str(self.folder / "chroma"),
                "--host",
                "127.0.0.1",
                "--port",
                str(chroma_port),
            ],
            {},
        )
        chroma.url = f"http://127.0.0.1:{chroma_port}"
        env = {
            "DOSSIER_DATABASE_URL": database_url,
            "DOSSIER_CHROMA_URL": chroma.url,
            "DOSSIER_QUEUE": "postgres",
            "DOSSIER_MODELS_DIR": str(settings.resolved_models_dir.resolve()),
            "HF_HUB_OFFLINE": "1",
        }
        llm_url = self.llm_base_url
        if llm_url is None:  # one embedded model server, supervised, shared by replicas and workers
            port = free_port()
            model = self._spawn(
                "model",
                [_bin("dossier"), "model-server", "--port", str(port)],
                {**env, "DOSSIER_DATA_DIR": str(self.folder / "model")},
            )
            model.url = llm_url = f"http://127.0.0.1:{port}/v1"
            env |= {
                "DOSSIER_LLM_MODEL": settings.chat_model_name,
                "DOSSIER_STRUCTURED_OUTPUT": "json_object_schema",
                "DOSSIER_LLM_TIMEOUT_S": "1200",
            }
        elif self.llm_model:
            env["DOSSIER_LLM_MODEL"] = self.llm_model
        env |= {"DOSSIER_LLM_BASE_URL": llm_url, **self.env}
        self._wait(chroma.url + "/api/v2/heartbeat", chroma)
        for i in range(self.workers):
            self._spawn(
                f"worker-{i}",
                [_bin("dossier"), "worker"],
                {**env, "DOSSIER_DATA_DIR": str(self.folder / f"worker-{i}")},
            )
        for i in range(self.replicas):
            port = free_port()
            api = self._spawn(
                f"api-{i}",
                [_bin("dossier"), "serve", "--port", str(port)],
                {**env, "DOSSIER_DATA_DIR": str(self.folder / f"api-{i}")},
            )
            api.url = f"http://127.0.0.1:{port}"
        for part in self.parts:
            if part.name.startswith("api-") and part.url:
                self._wait(part.url + "/readyz", part)
            if part.name == "model" and part.url:
                self._wait(part.url + "/models", part)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> Part:
        log = (self.folder / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        part = Part(name, proc, cmd, env)
        self.parts.append(part)
        return part

    def restart(self, part: Part) -> Part:
        """Start a stopped part again, as it was first started (its log goes on)."""
        if part.proc.poll() is None:
            raise RuntimeError(f"{part.name} is still running")
        self.parts.remove(part)
        again = self._spawn(part.name, part.cmd, part.env)
        again.url = part.url
        return again

    def _wait(self, url: str, part: Part) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if part.proc.poll() is not None:
                raise RuntimeError(f"{part.name} exited ({part.proc.returncode}); see {self.log(part.name)}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{part.name} did not answer {url} in {self.startup_timeout_s:.0f}s")

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def kill(self, part: Part) -> None:
        """SIGKILL one part (no cleanup of its own: what a crash or a lost host does)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(part.proc.pid, signal.SIGKILL)
        part.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every part (newest first), SIGKILL what is still up after 20 s, then stop Postgres."""
        for part in reversed(self.parts):
            if part.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(part.proc.pid, signal.SIGTERM)
        for part in reversed(self.parts):
            try:
                part.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(part.proc.pid, signal.SIGKILL)
                part.proc.wait(timeout=10)
        self.parts.clear()
        if self.postgres is not None:
            self.postgres.__exit__(None, None, None)
            self.postgres = None


def _bin(name: str) -> str:
    """A console script installed beside this interpreter (the venv's `dossier`, `chroma`)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name
