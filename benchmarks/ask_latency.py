"""Median seconds and prompt tokens per /ask with each local model, over real HTTP.

Usage: python benchmarks/ask_latency.py [--models qwen2.5-coder-1.5b qwen2.5-coder-0.5b]
Ingests examples/reports into a temporary data dir, asks QUESTIONS, prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402

QUESTIONS = [
    "In what year did the most recent shipment take place?",
    "Which Iranian research center received help from North Korean specialists?",
    "What type of drones were shown at the October 2020 parade?",
    "What did Iran's mission say about the panel's information?",
    "How many new ICBMs did the Pacific Arms Observatory count in the parade?",
    "How much did North Korea earn from cyber theft according to the panel?",
    "Who is the chairman of the Security Council's sanctions committee?",
    "What is the range of the new ICBM?",
]


def run(model: str, models_dir: Path) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), models_dir=models_dir, local_model=model)  # type: ignore[arg-type]
        with LiveServer(settings, start_llm=True) as api:
            while httpx.get(f"{api.url}/readyz", timeout=5).status_code != 200:
                time.sleep(1)
            for f in sorted((ROOT / "examples" / "reports").glob("*.txt")):
                httpx.post(f"{api.url}/v1/documents", files={"file": (f.name, f.read_bytes())}, timeout=120)
            secs, tokens, abstained = [], [], 0
            for q in QUESTIONS:
                t0 = time.monotonic()
                body = httpx.post(f"{api.url}/v1/ask", json={"question": q}, timeout=600).json()
                secs.append(time.monotonic() - t0)
                tokens.append(body["meta"]["usage"]["prompt_tokens"])
                abstained += body["abstained"]
                print(f"  {model} {secs[-1]:5.1f}s {tokens[-1]:4d} tok  {q[:50]!r} -> {body['answer'][:80]!r}")
    called = [t for t in tokens if t] or [0]
    return statistics.median(secs), statistics.median(called), max(secs), abstained


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    args = ap.parse_args()
    models_dir = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models"))
    rows = [(m, *run(m, models_dir)) for m in args.models]
    print("\n| model | median s per /ask | median prompt tokens (model calls) | max s | abstained |")
    print("|---|---|---|---|---|")
    for m, med, tok, mx, ab in rows:
        print(f"| {m} | {med:.1f} | {tok:.0f} | {mx:.1f} | {ab}/{len(QUESTIONS)} |")


if __name__ == "__main__":
    main()
