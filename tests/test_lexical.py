"""The SQLite FTS5 lexical index on a corpus it treats as large (thresholds lowered so a few passages suffice): common
query terms only add to the score of passages a rarer term selected, a query of common terms requires them all, and
filters and phrase-like terms still work. The small-corpus path is the exact BM25 the other tests rank with."""

from __future__ import annotations

import random

import pytest

from service.adapters.sql.lexical import SqlLexicalIndex
from service.container import Container
from service.domain.models import Passage, RetrievalFilter

# 40 passages: "Iran" in all of them, "shipped" in half, "centrifuges" in three (one also "shipped").
TEXTS = (
    [f"Iran shipped {n} drones to the coast." for n in range(20)]
    + [f"Iran reported {n} tanks near the border." for n in range(17)]
    + ["Iran shipped 30 centrifuges to Ruritania.", "Iran hid the centrifuges."]
    + ["The F-35 deal left Iran angry; centrifuges too."]
)


def passages() -> list[Passage]:
    return [
        Passage(
            id=f"doc_{i:03d}:00000",
            document_id=f"doc_{i:03d}",
            index=0,
            start=0,
            end=len(t),
            text=t,
            title="r",
            source="Gulf Wire" if i % 2 else "Harbor Ledger",
        )
        for i, t in enumerate(TEXTS)
    ]


@pytest.fixture
def pair(container: Container) -> tuple[SqlLexicalIndex, SqlLexicalIndex]:
    """The same rows read as a small corpus (exact) and as a large one (common terms cut off at 30%)."""
    exact = SqlLexicalIndex(container.engine)
    exact.upsert(passages())
    return exact, SqlLexicalIndex(container.engine, large_corpus=10, common_share=0.3)


def texts(hits: list[Passage]) -> list[str]:
    return [p.text for p in hits]


def test_common_terms_only_score_what_a_rare_term_selected(pair: tuple[SqlLexicalIndex, SqlLexicalIndex]) -> None:
    exact, large = pair
    terms = "Which ships did Iran send with centrifuges?"
    got = large.search(terms, 3, None)
    assert texts(got) == texts(exact.search(terms, 3, None))  # the passages both rank first
    assert all("centrifuges" in t for t in texts(got))
    # When the rare term selects fewer than asked, passages holding every common term follow.
    more = large.search("Iran shipped centrifuges", 5, None)
    assert texts(more) == texts(exact.search("Iran shipped centrifuges", 5, None))
    assert all("centrifuges" in t for t in texts(more)[:3])
    assert all("Iran shipped" in t for t in texts(more)[3:]) and len(more) == 5


def test_a_query_of_common_terms_requires_them_all(pair: tuple[SqlLexicalIndex, SqlLexicalIndex]) -> None:
    exact, large = pair
    got = large.search("Iran shipped", 50, None)
    assert got and all("Iran shipped" in t for t in texts(got)) and len(got) == 21
    assert len(exact.search("Iran shipped", 50, None)) == 40  # every passage has "Iran"


def test_filters_and_phrase_terms_on_a_large_corpus(pair: tuple[SqlLexicalIndex, SqlLexicalIndex]) -> None:
    _, large = pair
    hits = large.search("Iran centrifuges", 10, RetrievalFilter(source="Gulf Wire"))
    assert hits and all(p.source == "Gulf Wire" for p in hits)
    assert texts(large.search("the F-35 deal", 1, None)) == [TEXTS[-1]]
    assert large.search("Yongbyon", 5, None) == []


def test_too_many_common_matches_to_score_are_taken_newest_first(container: Container) -> None:
    SqlLexicalIndex(container.engine).upsert(passages())
    budget = SqlLexicalIndex(container.engine, large_corpus=10, common_share=0.3, score_budget=5)
    got = budget.search("Iran shipped", 3, None)  # about 21 passages hold both: over 5
    assert texts(got) == [TEXTS[37], TEXTS[19], TEXTS[18]]
    filtered = budget.search("Iran shipped", 2, RetrievalFilter(source="Harbor Ledger"))
    assert texts(filtered) == [TEXTS[18], TEXTS[16]]  # even positions are Harbor Ledger's


def test_rare_selected_passages_keep_plain_bm25_order(container: Container) -> None:
    """Common terms are scored as often as the rare ones in the selecting query, so the passages a rare term
    selects come in plain BM25's order (common terms in about 35% of passages, rare ones in about 12%)."""
    rng = random.Random(1)
    common_words, rare_words = ["iran", "panel", "shipped", "missile"], ["centrifuges", "frigates", "drones"]
    rows = []
    for i in range(80):
        words = [w for w in common_words if rng.random() < 0.35] + [w for w in rare_words if rng.random() < 0.12]
        words += ["filler"] * rng.randint(0, 6)  # lengths vary, so length normalisation matters
        rng.shuffle(words)
        t = " ".join(words) + " end."
        rows.append(
            Passage(
                id=f"doc_r{i:03d}:00000", document_id=f"doc_r{i:03d}", index=0, start=0, end=len(t), text=t, title="r"
            )
        )
    exact = SqlLexicalIndex(container.engine)
    exact.upsert(rows)
    large = SqlLexicalIndex(container.engine, large_corpus=10, common_share=0.25)
    for query in ("iran panel centrifuges", "shipped missile frigates drones", "iran shipped missile drones"):
        rare = " ".join(w for w in query.split() if w in rare_words)
        selected = {p.id for p in exact.search(rare, 80, None)}
        plain = [p for p in exact.search(query, 80, None) if p.id in selected]
        assert len(selected) >= 5 and len(plain) == len(selected), query
        assert texts(large.search(query, len(selected), None)) == texts(plain), query
