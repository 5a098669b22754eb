"""Time to the first verified sentence of a streamed answer against the time to the whole answer, over real HTTP
on the embedded model (what a user of the page or of `stream: true` feels).

Usage: python benchmarks/stream_latency.py [--model qwen2.5-coder-1.5b] [--models-dir data/models]
Ingests examples/reports into a temporary data dir, asks each question streamed, and prints per question: the
seconds to the `passages` event, to the first `sentence`, to the `answer`, and the first as a share of the last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ask_latency import QUESTIONS  # noqa: E402
from service.config import Settings  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402


def timings(url: str, question: str) -> tuple[float, float | None, float, bool]:
    """Seconds to the passages, to the first verified sentence (None if there was none), to the answer."""
    t0 = time.monotonic()
    passages = first = total = 0.0
    abstained = True
    with httpx.stream("POST", f"{url}/v1/ask", json={"question": question, "stream": True}, timeout=600) as r:
        event = ""
        for line in r.iter_lines():
            now = time.monotonic() - t0
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "passages":
                    passages = now
                elif event == "sentence" and not first:
                    first = now
                elif event == "answer":
                    total = now
                    abstained = json.loads(line[5:])["answer"]["abstained"]
    return passages, first or None, total, abstained


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "data" / "models")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), models_dir=args.models_dir, local_model=args.model)
        with LiveServer(settings, start_llm=True) as api:
            while httpx.get(f"{api.url}/readyz", timeout=5).status_code != 200:
                time.sleep(1)
            for f in sorted((ROOT / "examples" / "reports").glob("*.txt")):
                httpx.post(f"{api.url}/v1/documents", files={"file": (f.name, f.read_bytes())}, timeout=120)
            rows = []
            print(f"{'passages':>9} {'first':>7} {'answer':>7} {'share':>6}  question")
            for q in QUESTIONS:
                p, first, total, abstained = timings(api.url, q)
                share = f"{first / total:6.0%}" if first else "     -"
                shown = f"{first:7.1f}" if first else "      -"
                print(f"{p:9.2f} {shown} {total:7.1f} {share}  {q[:60]}{' (abstained)' if abstained else ''}")
                rows.append((p, first, total))
    answered = [(f, t) for _, f, t in rows if f]
    print(f"\n{args.model}: {len(answered)}/{len(rows)} answered with a streamed sentence")
    print(f"median to passages {statistics.median(p for p, _, _ in rows):.2f} s")
    if answered:
        first = statistics.median(f for f, _ in answered)
        whole = statistics.median(t for _, t in answered)
        share = statistics.median(f / t for f, t in answered)
        print(
            f"median to first verified sentence {first:.1f} s, to the whole answer {whole:.1f} s "
            f"(first sentence at {share:.0%} of the answer's time)"
        )
    print(f"median to the whole answer over all questions {statistics.median(t for _, _, t in rows):.1f} s")


if __name__ == "__main__":
    main()
