"""Local runtime pieces that need no model: orphan reaping, model assembly checks, a server that cannot start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.adapters.llm.local_runtime import LocalLlamaServer, LocalModelSpec, assemble_model, reap_orphans
from service.adapters.llm.supervisor import ModelSupervisor, RestartPolicy
from service.domain.errors import ConfigurationError, ModelUnavailable


def test_orphaned_server_is_reaped(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead_parent = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_parent.wait()
    live_parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f"llama-server-{child.pid}.pid").write_text(f"{child.pid} {dead_parent.pid}")
        (tmp_path / f"llama-server-{other.pid}.pid").write_text(f"{other.pid} {live_parent.pid}")
        assert reap_orphans(tmp_path) == 1
        assert child.wait(timeout=10) != 0
        time.sleep(0.2)
        assert other.poll() is None  # its Dossier process is alive: left alone
        assert [p.name for p in tmp_path.iterdir()] == [f"llama-server-{other.pid}.pid"]
    finally:
        for p in (child, live_parent, other):
            p.kill()
            p.wait()


def test_missing_part_package_is_a_clear_error(tmp_path: Path) -> None:
    spec = LocalModelSpec(name="x", filename="x.gguf", package_prefix="no-such-model-part", parts=2, sha256="0" * 64)
    with pytest.raises(ConfigurationError, match="no-such-model-part1"):
        assemble_model(spec, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_real_server_that_cannot_load_its_model_fails_fast_with_its_log_line(tmp_path: Path) -> None:
    """The real llama.cpp server on a corrupt GGUF: the supervisor reports `failed` with the exit and the line
    llama.cpp printed, instead of `starting` forever."""
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 4096)
    server = LocalLlamaServer(
        bogus, "broken", n_ctx=512, n_threads=1, log_path=tmp_path / "logs" / "llama.log", startup_timeout_s=120
    )
    sup = ModelSupervisor(server, RestartPolicy(backoff_base_s=0.1))
    try:
        with pytest.raises(ModelUnavailable, match="exit code 1") as info:
            sup.base_url(wait_s=120)
        assert "Failed to load model" in info.value.message
        st = sup.status()
        assert st.state == "failed" and st.restarts == 0 and st.last_exit == "exit code 1"
        assert st.last_log_line is not None and "broken.gguf" in st.last_log_line
    finally:
        sup.stop()
    assert not server.running() and not list((tmp_path / "logs").glob("*.pid"))
