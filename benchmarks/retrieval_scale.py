"""Hybrid retrieval at 1k, 10k, 100k (and 1M) passages: p50/p95 latency, the cost of one more ingest at that size,
and memory; beside it, what the old in-memory BM25 (rank-bm25, rebuilt from every passage after any write) cost.

Usage: python benchmarks/retrieval_scale.py [--sizes 1000 10000 100000] [--queries 50] [--store DIR] [--no-old]
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rank_bm25 import BM25Okapi  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.adapters.sql.lexical import query_terms  # noqa: E402
from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.domain.models import Document, Passage  # noqa: E402

ACTORS = [
    "Iran",
    "North Korea",
    "the UN panel",
    "Ruritania",
    "Acme Corporation",
    "the Defence Ministry",
    "China",
    "a member state",
    "the Security Council",
    "Pyongyang",
    "Tehran",
    "SZ DJI",
    "the navy",
]
VERBS = [
    "shipped",
    "denied",
    "reported",
    "estimated",
    "displayed",
    "received",
    "supplied",
    "tested",
    "launched",
    "disputed",
    "confirmed",
    "paid for",
    "transferred",
    "inspected",
]
THINGS = [
    "centrifuges",
    "missile parts",
    "drones",
    "ballistic missiles",
    "frigates",
    "launchers",
    "warheads",
    "fuel tanks",
    "radar systems",
    "machine tools",
    "a space launch vehicle",
    "cargo",
    "ICBMs",
]
PLACES = [
    "near Strelsau",
    "in Zenda",
    "at the October parade",
    "through a bank in Dubai",
    "at a port in Nampo",
    "in March 2020",
    "in June 2021",
    "last year",
    "according to the report",
]
QUESTIONS = [
    "Which company shipped centrifuges to Ruritania?",
    "What did Iran deny?",
    "Who paid for frigates?",
    "How many ICBMs were displayed?",
    "Where were drones inspected?",
    "What did Tehran test?",
]


def sentence(rng: random.Random) -> str:
    n = rng.randint(2, 400)
    return (
        f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {n} {rng.choice(THINGS)} {rng.choice(PLACES)}, "
        f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(PLACES)}."
    )


def units(rng: random.Random, n: int, dim: int) -> list[list[float]]:
    """`n` random unit vectors (numpy: a million of them in seconds)."""
    v = np.random.default_rng(rng.randrange(2**32)).standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.tolist()  # type: ignore[no-any-return]


def document(rng: random.Random, i: int, sentences: int = 10) -> tuple[Document, list[Passage]]:
    parts = [sentence(rng) for _ in range(sentences)]
    text = " ".join(parts)
    doc = Document(
        id=f"doc_bench{i:08d}",
        source_key=f"bench:{i}",
        title=f"Report {i}",
        source=rng.choice(["A", "B"]),
        published=dt.date(2021, 1, 1) + dt.timedelta(days=i % 365),
        text=text,
        sentence_count=sentences,
        created_at=dt.datetime.now(dt.UTC),
    )
    passages, at = [], 0
    for n, p in enumerate(parts):
        start = text.index(p, at)
        at = start + len(p)
        passages.append(
            Passage(
                id=f"{doc.id}:{n:05d}",
                document_id=doc.id,
                index=n,
                start=start,
                end=at,
                text=p,
                title=doc.title,
                source=doc.source,
                published=doc.published,
            )
        )
    return doc, passages


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, queries: int, store: Path | None, old: bool) -> None:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = store / str(size) if store else Path(tmp)
        built = folder / "BUILT"
        c = Container(Settings(data_dir=folder))
        dim = len(c.embedder.embed_query("warm-up"))
        t0 = time.monotonic()
        docs = size // 10
        batch: list[Passage] = []
        for i in range(docs):
            doc, passages = document(rng, i)  # drawn even when the store is built: the same report comes next
            if built.exists():
                continue
            c.repo.save(doc)
            batch += passages
            if len(batch) >= 5000 or i == docs - 1:
                c.index.upsert(batch, units(rng, len(batch), dim))
                c.lexical.upsert(batch)
                batch = []
        if built.exists():  # measured by a fresh process over a store built before (as a restarted replica sees it)
            load_s = float(built.read_text())
        else:
            load_s = time.monotonic() - t0
            if store:
                built.write_text(f"{load_s:.0f}")
        times = []
        for q in range(queries):
            t = time.perf_counter()
            c.retriever.retrieve(QUESTIONS[q % len(QUESTIONS)], 8)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        parts = breakdown(c, queries)
        # One more report at this size: its passages into both indexes and its row; nothing else is touched.
        doc, passages = document(rng, docs + 1)
        t = time.perf_counter()
        c.index.upsert(passages, units(rng, len(passages), dim))
        c.lexical.upsert(passages)
        c.repo.save(doc)
        one_more_ms = (time.perf_counter() - t) * 1000
        rss = rss_mb()
        old_s = old_query_ms = float("nan")
        if old:  # What the old design paid after that write, in every replica: every passage reloaded, BM25 rebuilt.
            t = time.perf_counter()
            everything = c.index.all_passages()
            fetch_s = time.perf_counter() - t
            t = time.perf_counter()
            bm25 = BM25Okapi([query_terms(p.text) or ["∅"] for p in everything])
            old_s = fetch_s + time.perf_counter() - t
            t = time.perf_counter()
            bm25.get_scores(query_terms(QUESTIONS[0]))
            old_query_ms = (time.perf_counter() - t) * 1000
            del bm25, everything
            gc.collect()
        c.close()
    print(
        f"{size:>9,} | {p50:6.1f} | {p95:6.1f} | {one_more_ms:7.1f} | {old_s:8.2f} | {old_query_ms:7.1f}"
        f" | {rss:7.0f} | {load_s:6.0f}"
    )
    print("          medians of the parts, ms: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()), flush=True)


def breakdown(c: Container, queries: int) -> dict[str, float]:
    """Each part of a hybrid retrieval alone (they overlap in `retrieve`: lexical runs beside the other two), and
    how many passages the lexical query matches (FTS5 scores every one of them)."""
    cand = c.settings.retrieval_candidates
    qs = [QUESTIONS[q % len(QUESTIONS)] for q in range(queries)]

    def median_ms(step: Callable[[str], object]) -> float:
        took = []
        for q in qs:
            t = time.perf_counter()
            step(q)
            took.append((time.perf_counter() - t) * 1000)
        return statistics.median(took)

    vectors = {q: c.embedder.embed_query(q) for q in QUESTIONS}
    with c.engine.connect() as conn:
        matched = [
            conn.execute(
                text("SELECT count(*) FROM lexical_fts WHERE lexical_fts MATCH :q"),
                {"q": " OR ".join(f'"{t}"' for t in query_terms(q))},
            ).scalar_one()
            for q in QUESTIONS
        ]
    return {
        "embed question": median_ms(c.embedder.embed_query),
        "vector search": median_ms(lambda q: c.index.search(vectors[q], cand, None)),
        "lexical search": median_ms(lambda q: c.lexical.search(q, cand, None)),
        "passages matched by the lexical query": statistics.median(matched),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument(
        "--store",
        type=Path,
        help="keep each size's store in STORE/<size> and measure it again later "
        "(a million passages take an hour to load on 2 cores; the +1 report is written each time)",
    )
    ap.add_argument("--no-old", dest="old", action="store_false", help="skip the old design's full BM25 rebuild")
    args = ap.parse_args()
    print("passages | p50 ms | p95 ms | +1 report ms | old rebuild s | old BM25 query ms | peak RSS MB | load s")
    for size in args.sizes:
        run(size, args.queries, args.store, args.old)


if __name__ == "__main__":
    main()
