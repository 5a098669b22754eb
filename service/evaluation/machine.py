"""Which machine and llama.cpp build produced a run: recorded in every results file and baseline entry."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from service.config import REPO_ROOT

FLAGS_OF_INTEREST = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model name and the SIMD flags that decide which llama.cpp kernels could run."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "flags": sorted(f for f in FLAGS_OF_INTEREST if f in flags), "cores": os.cpu_count()}


def llama_build() -> dict[str, Any] | None:
    """The installed llama-cpp-python: version, the flags it was built with (from `make setup`), its CPU features."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return None
    flags_file = Path(sys.prefix) / "llama-build-flags"
    build_flags = flags_file.read_text(encoding="utf-8").strip() if flags_file.exists() else "unknown (not make setup)"
    try:
        import llama_cpp

        features = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    except Exception as exc:  # a broken build still gets its run recorded
        features = f"unavailable: {exc}"
    return {
        "version": version,
        "cmake_args": build_flags,
        "portable": "-DGGML_NATIVE=OFF" in build_flags,
        "cpu_features": features,
    }


def machine_info(llm_endpoint: str | None, threads: int | None, batch: int) -> dict[str, Any]:
    """Everything about where a run happened that can change greedy outputs."""
    embedded = {"build": llama_build(), "threads": threads or os.cpu_count(), "batch": batch}
    return {
        "cpu": cpu_info(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "llm": llm_endpoint or {"embedded": embedded},
    }


def git_head() -> str | None:
    """The short commit of the repository, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None
