"""The model supervisor on real processes that crash: backoff, restart on a new port, crash-loop give-up."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.adapters.llm.endpoint import LlmEndpoint
from service.adapters.llm.supervisor import (
    ModelSupervisor,
    RestartPolicy,
    ServerDied,
    SupervisorStatus,
    describe_exit,
)
from service.domain.errors import ModelUnavailable
from tests.conftest import make_settings

# A process that lives `life` seconds and then dies by `sig` (None: lives until killed).
SCRIPT = (
    "import os, signal, sys, time; life, sig = float(sys.argv[1]), sys.argv[2]\n"
    "time.sleep(life)\n"
    "os.kill(os.getpid(), getattr(signal, sig)) if sig != 'none' else time.sleep(600)"
)


class CrashingServer:
    """A real child process per start, on a new "port" each time; `plan[n]` is how start n behaves:
    (seconds alive, signal name or 'none', crash in self-test?)."""

    def __init__(self, plan: list[tuple[float, str, bool]]) -> None:
        self.plan = plan
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{20000 + self.starts}/v1"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> str:
        life, sig, _ = self.plan[min(self.starts, len(self.plan) - 1)]
        self.starts += 1
        self.proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(life), sig])
        return self.base_url

    def self_test(self) -> None:
        _, _, crash = self.plan[min(self.starts - 1, len(self.plan) - 1)]
        if crash and self.proc is not None:
            code = self.proc.wait(timeout=30)
            raise ServerDied(
                f"died during its self-test completion ({describe_exit(code)})",
                exit=describe_exit(code),
                log_line="ggml_backend_amx_mul_mat",
            )

    def wait(self) -> int:
        return 0 if self.proc is None else self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def last_log_line(self) -> str:
        return f"start {self.starts}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(sup: ModelSupervisor, pred: Callable[[SupervisorStatus], bool], timeout: float = 30) -> SupervisorStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = sup.status()
        if pred(st):
            return st
        time.sleep(0.02)
    raise AssertionError(f"supervisor never reached the expected state; now {sup.status()}")


def test_backoff_doubles_and_is_capped() -> None:
    policy = RestartPolicy(backoff_base_s=1.0, backoff_max_s=30.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-9) == "signal SIGKILL (9)"
    assert describe_exit(-11) == "signal SIGSEGV (11)"
    assert describe_exit(1) == "exit code 1"


def test_crash_loop_restarts_with_backoff_then_gives_up() -> None:
    server = CrashingServer([(0.05, "SIGSEGV", False)])
    sup = ModelSupervisor(server, RestartPolicy(backoff_base_s=0.05, max_restarts=3, window_s=60))
    sup.start()
    try:
        st = wait_for(sup, lambda s: s.state == "failed")
        assert st.restarts == 3 and server.starts == 4  # the first start and three restarts
        assert sup.delays == pytest.approx([0.05, 0.1, 0.2])
        assert st.error is not None and "crash loop" in st.error and "SIGSEGV" in st.error
        assert st.last_exit == "signal SIGSEGV (11)"
        with pytest.raises(ModelUnavailable, match="crash loop"):  # it says so at once (how fast: benchmarks)
            sup.base_url(wait_s=10)
        time.sleep(0.3)
        assert server.starts == 4  # and no more restarts
    finally:
        sup.stop()


def test_killed_server_is_restarted_on_a_new_port() -> None:
    server = CrashingServer([(0.3, "SIGKILL", False), (0, "none", False)])
    sup = ModelSupervisor(server, RestartPolicy(backoff_base_s=0.05))
    try:
        first = sup.base_url(wait_s=10)
        st = wait_for(sup, lambda s: s.restarts == 1 and s.state == "ready")
        assert st.last_exit == "signal SIGKILL (9)" and st.last_log_line == "start 1"
        second = sup.base_url(wait_s=10)
        assert second != first and sup.ready()
    finally:
        sup.stop()
    assert sup.status().state == "stopped" and not server.running()


def test_while_restarting_callers_get_retry_after() -> None:
    server = CrashingServer([(0.1, "SIGKILL", False), (0, "none", False)])
    sup = ModelSupervisor(server, RestartPolicy(backoff_base_s=1.2))
    try:
        sup.base_url(wait_s=10)
        wait_for(sup, lambda s: s.state == "restarting")
        with pytest.raises(ModelUnavailable, match="restarting") as info:
            sup.base_url(wait_s=0.2)
        assert info.value.retry_after_s is not None and info.value.retry_after_s >= 1
        assert sup.base_url(wait_s=20).endswith(":20002/v1")  # and then it is back
    finally:
        sup.stop()


def test_crash_in_the_first_self_test_stops_at_once_and_names_the_fix() -> None:
    server = CrashingServer([(0.05, "SIGSEGV", True)])
    sup = ModelSupervisor(server, RestartPolicy(backoff_base_s=0.05))
    sup.start()
    try:
        st = wait_for(sup, lambda s: s.state == "failed")
        assert server.starts == 1  # deterministic crash: no restart loop
        assert st.error is not None and "SIGSEGV" in st.error and "portable" in st.error
        assert st.last_log_line == "ggml_backend_amx_mul_mat"
    finally:
        sup.stop()


def test_a_configured_model_server_means_no_embedded_one(tmp_path: Path) -> None:
    """A replica pointed at a model server (DOSSIER_LLM_BASE_URL) never assembles or starts llama.cpp itself."""
    settings = make_settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", models_dir=tmp_path / "models")
    endpoint = LlmEndpoint(settings)
    assert endpoint.start_in_background() is None
    assert endpoint.base_url() == "http://127.0.0.1:9/v1" and endpoint.ready()
    assert endpoint.status() is None and not (tmp_path / "models").exists()
