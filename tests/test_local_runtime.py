"""Local runtime pieces that need no model: orphan reaping and model assembly checks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.adapters.local_runtime import LocalModelSpec, assemble_model, reap_orphans
from service.domain.errors import ConfigurationError


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
