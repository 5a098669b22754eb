"""Hybrid retrieval at 1k, 10k, 100k (and 1M) passages: p50/p95 latency, the cost of one more ingest at that size,
and memory; beside it, what the old in-memory BM25 (rank-bm25, rebuilt from every passage after any write) cost.

Usage: python benchmarks/retrieval_scale.py [--sizes 1000 10000 100000] [--queries 50]
Synthetic report-like sentences (names, places, numbers, verbs of the domain) in embedded Chroma and SQLite FTS5;
their vectors are random unit vectors (encoding a million sentences on 2 cores is not what is measured here); the
query is embedded by the real local model, as in service. Everything runs in this one process, size after size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rank_bm25 import BM25Okapi  # noqa: E402

from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.core.text import content_terms  # noqa: E402
from service.domain.models import Document, Passage  # noqa: E402

ACTORS = ["Iran", "North Korea", "the UN panel", "Ruritania", "Acme Corporation", "the Defence Ministry",
          "China", "a member state", "the Security Council", "Pyongyang", "Tehran", "SZ DJI", "the navy"]  # fmt: skip
VERBS = ["shipped", "denied", "reported", "estimated", "displayed", "received", "supplied", "tested", "launched",
         "disputed", "confirmed", "paid for", "transferred", "inspected"]  # fmt: skip
THINGS = ["centrifuges", "missile parts", "drones", "ballistic missiles", "frigates", "launchers", "warheads",
          "fuel tanks", "radar systems", "machine tools", "a space launch vehicle", "cargo", "ICBMs"]  # fmt: skip
PLACES = ["near Strelsau", "in Zenda", "at the October parade", "through a bank in Dubai", "at a port in Nampo",
          "in March 2020", "in June 2021", "last year", "according to the report"]  # fmt: skip
QUESTIONS = ["Which company shipped centrifuges to Ruritania?", "What did Iran deny?", "Who paid for frigates?",
             "How many ICBMs were displayed?", "Where were drones inspected?", "What did Tehran test?"]  # fmt: skip


def sentence(rng: random.Random) -> str:
    n = rng.randint(2, 400)
    return (f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {n} {rng.choice(THINGS)} {rng.choice(PLACES)}, "
            f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(PLACES)}.")  # fmt: skip


def units(rng: random.Random, n: int, dim: int) -> list[list[float]]:
    """`n` random unit vectors (numpy: a million of them in seconds)."""
    v = np.random.default_rng(rng.randrange(2**32)).standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.tolist()  # type: ignore[no-any-return]


def document(rng: random.Random, i: int, sentences: int = 10) -> tuple[Document, list[Passage]]:
    parts = [sentence(rng) for _ in range(sentences)]
    text = " ".join(parts)
    doc = Document(id=f"doc_bench{i:08d}", source_key=f"bench:{i}", title=f"Report {i}", source=rng.choice(["A", "B"]),
                   published=dt.date(2021, 1, 1) + dt.timedelta(days=i % 365), text=text, sentence_count=sentences,
                   created_at=dt.datetime.now(dt.UTC))  # fmt: skip
    passages, at = [], 0
    for n, p in enumerate(parts):
        start = text.index(p, at)
        at = start + len(p)
        passages.append(Passage(id=f"{doc.id}:{n:05d}", document_id=doc.id, index=n, start=start, end=at, text=p,
                                title=doc.title, source=doc.source, published=doc.published))  # fmt: skip
    return doc, passages


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, queries: int) -> None:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        c = Container(Settings(data_dir=Path(tmp)))
        dim = len(c.embedder.embed_query("warm-up"))
        t0 = time.monotonic()
        docs = size // 10
        batch: list[Passage] = []
        for i in range(docs):
            doc, passages = document(rng, i)
            c.repo.save(doc)
            batch += passages
            if len(batch) >= 5000 or i == docs - 1:
                c.index.upsert(batch, units(rng, len(batch), dim))
                c.lexical.upsert(batch)
                batch = []
        load_s = time.monotonic() - t0
        times = []
        for q in range(queries):
            t = time.perf_counter()
            c.retriever.retrieve(QUESTIONS[q % len(QUESTIONS)], 8)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        # One more report at this size: its passages into both indexes and its row; nothing else is touched.
        doc, passages = document(rng, docs + 1)
        t = time.perf_counter()
        c.index.upsert(passages, units(rng, len(passages), dim))
        c.lexical.upsert(passages)
        c.repo.save(doc)
        one_more_ms = (time.perf_counter() - t) * 1000
        rss = rss_mb()
        # What the old design paid after that write, in every replica: every passage reloaded and BM25 rebuilt.
        t = time.perf_counter()
        everything = c.index.all_passages()
        fetch_s = time.perf_counter() - t
        t = time.perf_counter()
        bm25 = BM25Okapi([content_terms(p.text) or ["∅"] for p in everything])
        rebuild_s = time.perf_counter() - t
        t = time.perf_counter()
        bm25.get_scores(content_terms(QUESTIONS[0]))
        old_query_ms = (time.perf_counter() - t) * 1000
        del bm25, everything
        gc.collect()
        c.close()
    old_s = fetch_s + rebuild_s
    print(f"{size:>9,} | {p50:6.1f} | {p95:6.1f} | {one_more_ms:7.1f} | {old_s:8.2f} | {old_query_ms:7.1f}"
          f" | {rss:7.0f} | {load_s:6.0f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    print("passages | p50 ms | p95 ms | +1 report ms | old rebuild s | old BM25 query ms | peak RSS MB | load s")
    for size in args.sizes:
        run(size, args.queries)


if __name__ == "__main__":
    main()
