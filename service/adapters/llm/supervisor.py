"""Keeps the embedded llama.cpp server alive: self-test before ready, restart with backoff, give up on a crash loop."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from service.domain.errors import ModelUnavailable, ModelUnreachable

log = logging.getLogger(__name__)

State = Literal["stopped", "starting", "self_test", "ready", "restarting", "failed"]


class SupervisedServer(Protocol):
    """What the supervisor needs of a model server process (LocalLlamaServer in production)."""

    @property
    def base_url(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def start(self) -> str:
        """Launch the process on a fresh port and wait until it answers; raise ServerDied if it exits."""
        ...

    def self_test(self) -> None:
        """One tiny completion; raise ServerDied if the process dies doing it."""
        ...

    def wait(self) -> int:
        """Block until the process exits; its return code (negative: killed by that signal)."""
        ...

    def running(self) -> bool: ...

    def last_log_line(self) -> str | None:
        """The last line the process wrote (where llama.cpp prints its errors), if any."""
        ...

    def stop(self) -> None: ...


class ServerDied(ModelUnavailable):
    """The model server process exited (crash, kill or failed start); `exit` describes how."""

    code = "model_unavailable"

    def __init__(self, message: str, exit: str | None = None, log_line: str | None = None) -> None:
        super().__init__(message)
        self.exit = exit
        self.log_line = log_line


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff between restarts; more than `max_restarts` within `window_s` is a crash loop."""

    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Delay before restart number `attempt` (1-based): base, 2x base, 4x base, ... capped."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempt - 1)))


@dataclass
class CrashLoopDetector:
    """Remembers recent crash times; `record` says whether the crash loop limit is exceeded."""

    policy: RestartPolicy
    times: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> bool:
        self.times.append(now)
        while self.times and now - self.times[0] > self.policy.window_s:
            self.times.popleft()
        return len(self.times) > self.policy.max_restarts

    def recent(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class SupervisorStatus:
    """What /readyz reports about the embedded model server."""

    state: State
    restarts: int
    last_exit: str | None
    last_log_line: str | None
    error: str | None
    base_url: str | None
    pid: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_log_line": self.last_log_line,
            "error": self.error,
        }


FIX_HINT = (
    "This usually means llama.cpp was built for another CPU (native AVX-512/AMX kernels). Rebuild the portable "
    "wheel: `rm -rf .venv && make setup` (see README, 'Portable llama.cpp build'), or point DOSSIER_LLM_BASE_URL "
    "at another OpenAI-compatible server."
)


class ModelSupervisor:
    """Runs a model server in a monitor thread and restarts it when it dies.

    The first start must pass a self-test completion before the server counts as ready; if the process dies
    during that first start or self-test the supervisor stops at once with an error naming the exit code or
    signal, the last log line and the fix (a bad model file or CPU kernels: restarting would die again). A first
    start that times out or fails its self-test without dying is retried like a crash. After the server has been
    ready once, any exit is a crash: it is restarted after `policy.backoff(n)` seconds, on a new port, and must
    pass the self-test again. More than `policy.max_restarts` crashes within `policy.window_s` is a crash loop:
    the supervisor gives up and reports `failed` with the reason.
    """

    def __init__(
        self,
        server: SupervisedServer,
        policy: RestartPolicy | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        restart_wait_s: float = 60.0,
    ) -> None:
        self._server = server
        self.policy = policy or RestartPolicy()
        self._crashes = CrashLoopDetector(self.policy)
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s) and None)
        self._cond = threading.Condition()
        self._state: State = "stopped"
        self._restarts = 0
        self._last_exit: str | None = None
        self._last_log: str | None = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._ever_ready = False
        self.restart_wait_s = restart_wait_s
        self.delays: list[float] = []  # the backoff delays waited, for tests and logs

    # -- public ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the monitor thread (idempotent); the server comes up in the background."""
        with self._cond:
            if self._thread is not None:
                return
            self._state = "starting"
            self._thread = threading.Thread(target=self._run, name="llm-supervisor", daemon=True)
            self._thread.start()

    def status(self) -> SupervisorStatus:
        with self._cond:
            url = self._server.base_url if self._state == "ready" else None
            pid = self._server.pid if self._server.running() else None
            return SupervisorStatus(self._state, self._restarts, self._last_exit, self._last_log, self._error, url, pid)

    def ready(self) -> bool:
        with self._cond:
            return self._state == "ready" and self._server.running()

    def base_url(self, wait_s: float) -> str:
        """The server's URL once it is ready; waits up to `wait_s` through the first start, and up to
        `restart_wait_s` (if shorter) through a restart, so that callers don't pile up behind a long one.

        Raises ModelUnavailable with `retry_after_s` when it is still restarting, and at once when it failed.
        """
        self.start()
        if self._ever_ready:
            wait_s = min(wait_s, self.restart_wait_s)
        deadline = self._clock() + wait_s
        with self._cond:
            while True:
                if self._state == "failed":
                    raise ModelUnavailable(f"the embedded model server is down: {self._error}")
                if self._state == "ready" and self._server.running():
                    return self._server.base_url
                left = deadline - self._clock()
                if left <= 0:
                    what = "restarting" if self._restarts else "starting"
                    cause = f" after it exited ({self._last_exit})" if self._last_exit else ""
                    raise ModelUnreachable(
                        f"the embedded model server is {what}{cause}; retry shortly",
                        retry_after_s=max(5.0, self.policy.backoff(self._restarts + 1)),
                    )
                self._cond.wait(timeout=min(left, 0.5))

    def stop(self) -> None:
        """Stop supervising and terminate the server (also one that is still starting)."""
        self._stop.set()
        self._server.stop()
        with self._cond:
            self._state = "stopped"
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    # -- monitor thread ---------------------------------------------------------------------------------
    def _set(self, state: State, **kw: object) -> None:
        with self._cond:
            if self._stop.is_set():
                return
            self._state = state
            for key, value in kw.items():
                setattr(self, f"_{key}", value)
            self._cond.notify_all()

    def _run(self) -> None:
        ever_ready = False
        while not self._stop.is_set():
            try:
                self._set("starting" if not ever_ready else "restarting")
                self._server.start()
                if self._stop.is_set():  # stopped while it was starting: don't leave it running
                    self._server.stop()
                    return
                self._set("self_test")
                self._server.self_test()
                ever_ready = self._ever_ready = True
                self._set("ready", error=None)
                log.info("embedded model server ready at %s", self._server.base_url)
                code = self._server.wait()
                if self._stop.is_set():
                    return
                exit_text = describe_exit(code)
                line = self._server.last_log_line()
                log.error("embedded model server exited (%s); last log line: %s", exit_text, line)
                self._set("restarting", last_exit=exit_text, last_log=line)
            except ServerDied as exc:
                if self._stop.is_set():
                    return
                self._server.stop()
                if not ever_ready:
                    msg = f"{exc.message}. {FIX_HINT}" if exc.exit and "signal" in exc.exit else exc.message
                    self._set("failed", last_exit=exc.exit, last_log=exc.log_line, error=msg)
                    log.error("embedded model server failed its first start: %s", msg)
                    return
                self._set("restarting", last_exit=exc.exit, last_log=exc.log_line)
            except Exception as exc:  # a start that timed out, a self-test HTTP error, a port race: transient,
                if self._stop.is_set():  # so retried with backoff and counted towards the crash loop
                    return
                self._server.stop()
                self._set("restarting", last_exit=f"{type(exc).__name__}: {exc}")
            if self._crashes.record(self._clock()):
                error = (
                    f"crash loop: the model server exited {self._crashes.recent()} times within "
                    f"{self.policy.window_s:.0f}s (last: {self._last_exit}; log: {self._last_log}); "
                    "not restarting. Fix the cause and restart Dossier."
                )
                self._set("failed", error=error)
                log.error(error)
                return
            with self._cond:
                self._restarts += 1
                delay = self.policy.backoff(self._crashes.recent())
            self.delays.append(delay)
            log.warning("restarting the embedded model server in %.1fs (restart %d)", delay, self._restarts)
            self._sleep(delay)


def describe_exit(code: int | None) -> str:
    """`exit code 1`, or `signal SIGKILL (9)` for a negative return code."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"signal {name} ({-code})"
    return f"exit code {code}"
