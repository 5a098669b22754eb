"""Summary batch throughput with two workers against one, through the scale-out topology (`make topology`'s parts:
Postgres, a Chroma server, two API replicas, workers on the procrastinate queue), against the same model server.

Usage: python benchmarks/batch_workers.py --model stub [--reports 12] [--latency 3]
       python benchmarks/batch_workers.py --model local [--reports 4]
`stub`: an OpenAI-compatible server on loopback that takes `--latency` seconds per summary and serves requests in
parallel, standing in for a model server with capacity to spare (vLLM on a GPU, or several llama.cpp servers behind
a router). `local`: the embedded llama.cpp (Qwen2.5-Coder-1.5B) as one `dossier model-server` on this 2-core
machine, which computes one request at a time. Both worker counts run in this one invocation, one after the other,
each on a fresh topology with the same reports; the figure is the ratio of their wall times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.topology.launch import Topology  # noqa: E402
from tests.stub_openai import StubServer, quoting  # noqa: E402


def reports(n: int) -> list[tuple[str, str]]:
    """The example reports, then variants of them (other titles and numbers) up to `n`."""
    files = sorted((ROOT / "examples" / "reports").glob("*.txt"))
    out = []
    for i in range(n):
        text = files[i % len(files)].read_text(encoding="utf-8")
        if i >= len(files):
            text = f"Batch copy {i}: " + text.replace("2020", str(2000 + i))
        out.append((f"{files[i % len(files)].stem} #{i}", text))
    return out


def batch_seconds(workers: int, docs: list[tuple[str, str]], llm_url: str | None) -> tuple[float, int]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Topology(Path(tmp) / "t", workers=workers, llm_base_url=llm_url, llm_model="stub" if llm_url else None) as topo,
    ):
        a = topo.api_urls[0]
        for title, text in docs:
            r = httpx.post(f"{a}/v1/documents", json={"text": text, "title": title}, timeout=120)
            r.raise_for_status()
        t0 = time.monotonic()
        job_id = httpx.post(f"{a}/v1/summaries/batch", json={}, timeout=60).json()["job_id"]
        while True:
            job = httpx.get(f"{a}/v1/jobs/{job_id}", timeout=30).json()
            print(f"  {workers} worker(s): {job['done'] + job['failed']}/{job['total']}", end="\r", file=sys.stderr)
            if job["state"].startswith("completed"):
                return time.monotonic() - t0, job["done"]
            time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["stub", "local"], default="stub")
    ap.add_argument("--reports", type=int, default=12)
    ap.add_argument("--latency", type=float, default=3.0, help="stub seconds per summary")
    ap.add_argument("--order", default="1,2,2,1", help="worker counts, run in this order (ABBA evens out drift)")
    args = ap.parse_args()
    docs = reports(args.reports)
    with ExitStack() as stack:
        url = None
        if args.model == "stub":
            url = stack.enter_context(StubServer([quoting(args.latency)])).base_url
        runs: dict[int, list[float]] = {1: [], 2: []}
        for workers in (int(w) for w in args.order.split(",")):
            seconds, done = batch_seconds(workers, docs, url)
            assert done == len(docs), f"{done} of {len(docs)} summarised"
            runs[workers].append(seconds)
            print(f"\n{workers} worker(s): {seconds:.1f}s", file=sys.stderr)
    one, two = statistics.mean(runs[1]), statistics.mean(runs[2])
    print(
        f"{args.model}, {len(docs)} reports, runs {args.order}: 1 worker {one:.1f}s, 2 workers {two:.1f}s (means): "
        f"{len(docs) / one * 60:.1f} vs {len(docs) / two * 60:.1f} reports/min, x{one / two:.2f}"
    )


if __name__ == "__main__":
    main()
