"""Bounded load on loopback: N concurrent asks against a model queue of depth D, with /healthz probed throughout.

Usage: python benchmarks/load.py [--asks 50] [--depth 8] [--model qwen2.5-coder-1.5b]
Starts Dossier on the embedded default (the real llama.cpp server), ingests examples/reports, then fires all asks
at once over real HTTP while another client probes /healthz every 50 ms. Prints the status counts (expect D answers
and N - D refusals with 429 + Retry-After, no 5xx), the answer latencies, and the /healthz latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402

QUESTIONS = [
    "Which Iranian research center received help from North Korean specialists?",
    "What type of drones were shown at the October 2020 parade?",
    "What did Iran's mission say about the panel's information?",
    "How much did North Korea earn from cyber theft according to the panel?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(url: str, asks: int) -> tuple[list[tuple[int, float, str | None]], list[float]]:
    done = asyncio.Event()
    probes: list[float] = []
    slow: list[tuple[float, float]] = []  # (seconds since start, latency) of probes over 100 ms
    start = time.perf_counter()

    async def probe(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            r = await client.get(f"{url}/healthz")
            probes.append(time.perf_counter() - t0)
            if probes[-1] > 0.1:
                slow.append((t0 - start, probes[-1]))
            assert r.status_code == 200
            await asyncio.sleep(0.05)

    async def ask(client: httpx.AsyncClient, n: int) -> tuple[int, float, str | None]:
        t0 = time.perf_counter()
        r = await client.post(f"{url}/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
        return r.status_code, time.perf_counter() - t0, r.headers.get("retry-after")

    limits = httpx.Limits(max_connections=asks + 5)
    async with httpx.AsyncClient(timeout=1800, limits=limits) as asker, httpx.AsyncClient(timeout=10) as prober:
        probing = asyncio.create_task(probe(prober))
        results = await asyncio.gather(*(ask(asker, n) for n in range(asks)))
        done.set()
        await probing
    if slow:
        print("  probes over 100 ms (s since start, ms):", [(round(t, 1), round(1000 * v)) for t, v in slow])
    return list(results), probes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asks", type=int, default=50)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            models_dir=ROOT / "data" / "models",
            local_model=args.model,
            model_queue_depth=args.depth,
            rate_limit="",
        )  # type: ignore[arg-type]
        with LiveServer(settings, start_llm=True) as api:
            while httpx.get(f"{api.url}/readyz", timeout=5).status_code != 200:
                time.sleep(1)
            for f in sorted((ROOT / "examples" / "reports").glob("*.txt")):
                httpx.post(f"{api.url}/v1/documents", files={"file": (f.name, f.read_bytes())}, timeout=120)
            t0 = time.perf_counter()
            results, probes = asyncio.run(load(api.url, args.asks))
            wall = time.perf_counter() - t0
    codes = Counter(code for code, _, _ in results)
    answered = [s for code, s, _ in results if code == 200]
    refused = [s for code, s, _ in results if code == 429]
    retry = [int(r) for code, _, r in results if code == 429 and r]
    print(f"{args.asks} concurrent asks, model queue depth {args.depth}, {args.model}, wall {wall:.1f} s")
    print(f"  status counts: {dict(sorted(codes.items()))}  (5xx: {sum(v for k, v in codes.items() if k >= 500)})")
    if answered:
        p50, worst = statistics.median(answered), max(answered)
        print(f"  answered: {len(answered)}, latency p50 {p50:.1f} s, max {worst:.1f} s")
        print(f"  answer latencies, s: {[round(x, 1) for x in sorted(answered)]}")
    if refused:
        p50_ms, worst_ms = 1000 * statistics.median(refused), 1000 * max(refused)
        print(
            f"  refused: {len(refused)} in p50 {p50_ms:.0f} ms, max {worst_ms:.0f} ms; "
            f"Retry-After {min(retry)}-{max(retry)} s on {len(retry)} of them"
        )
    ms = [1000 * pct(probes, 0.5), 1000 * pct(probes, 0.95), 1000 * max(probes)]
    print(f"  /healthz: {len(probes)} probes, p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, max {ms[2]:.1f} ms")


if __name__ == "__main__":
    main()
