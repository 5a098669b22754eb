"""Grounding rate, rejected count and seconds per document for fact extraction with a local model.

Usage: python benchmarks/extract_grounding.py --model qwen2.5-coder-1.5b [--seeds tests/data/seeds]
Runs in-process against the embedded llama.cpp server on a temporary data dir; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.extract.schemas import get_schema  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--seeds", type=Path, default=ROOT / "tests" / "data" / "seeds")
    args = ap.parse_args()
    files = sorted((ROOT / "examples" / "reports").glob("*.txt")) + sorted(args.seeds.glob("*.txt"))
    models_dir = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        c = Container(Settings(data_dir=Path(tmp), models_dir=models_dir, local_model=args.model))  # type: ignore[arg-type]
        c.llm.base_url()  # start the server before timing
        try:
            for f in files:
                doc = c.ingest.ingest_paths([f])[0][0].document
                t0 = time.monotonic()
                ex = c.extract.extract(doc.id, get_schema(None), refresh=True)
                secs = time.monotonic() - t0
                ok = all(
                    e.text == doc.text[e.start : e.end] for fs in ex.facts.values() for x in fs for e in x.evidence
                )
                rows.append((f.name, ex.fact_count, len(ex.rejected), ex.grounding_rate(), secs, ex.windows, ok))
                print(f"{f.name}: {ex.fact_count} facts, {len(ex.rejected)} rejected, {secs:.0f}s", flush=True)
        finally:
            c.close()
    print(f"\n### {args.model}\n")
    print("| report | facts | rejected | grounding rate | evidence == source | windows | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, n, rej, rate, secs, win, ok in rows:
        print(f"| {name} | {n} | {rej} | {rate:.0%} | {'100%' if ok else 'NO'} | {win} | {secs:.0f} |")
    total_f, total_r = sum(r[1] for r in rows), sum(r[2] for r in rows)
    mean_s = sum(r[4] for r in rows) / len(rows)
    print(f"| **all** | {total_f} | {total_r} | {total_f / max(1, total_f + total_r):.0%} | | | {mean_s:.0f} mean |")


if __name__ == "__main__":
    main()
