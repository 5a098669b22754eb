"""Seconds per report and for the digest of a summary batch over examples/reports with a local model.

Usage: python benchmarks/summary_latency.py --model qwen2.5-coder-1.5b [--limit N]
Prints per-report seconds, kept/rejected summary sentences, the digest's points, and a Markdown row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--limit", type=int, default=0, help="only the first N example reports")
    args = ap.parse_args()
    files = sorted((ROOT / "examples" / "reports").glob("*.txt"))
    files = files[: args.limit] if args.limit else files
    models_dir = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models"))
    with tempfile.TemporaryDirectory() as tmp:
        c = Container(Settings(data_dir=Path(tmp), models_dir=models_dir, local_model=args.model))  # type: ignore[arg-type]
        c.llm.base_url()
        try:
            c.ingest.ingest_paths(files)
            job = c.batches.create()
            assert job is not None
            t0 = time.monotonic()
            final = c.batches.run(job.id)
            wall = time.monotonic() - t0
            secs = []
            for item in final.items:
                s = c.jobs.summary(item.document_id)
                kept, rej = (len(s.sentences), len(s.rejected)) if s else (0, 0)
                secs.append(item.seconds or 0.0)
                print(
                    f"{item.title[:60]:60s} {item.state:6s} {item.seconds or 0:6.1f}s kept {kept} rejected {rej}"
                    + (f" error: {item.error}" if item.error else "")
                )
            digest_s = final.digest.meta.latency_s if final.digest else float("nan")
            if final.digest:
                for p in final.digest.points:
                    print(f"  digest {p.kind} ({p.detected_by}): {p.text[:160]}")
            print(final.digest_error or "")
        finally:
            c.close()
    print("\n| model | reports | done | median s per report | max s | digest s | batch wall s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.model} | {final.total} | {final.done} | {statistics.median(secs):.1f} | {max(secs):.1f} "
        f"| {digest_s:.1f} | {wall:.0f} |"
    )


if __name__ == "__main__":
    main()
