"""The PassageIndex contract, run against real Chroma and against the in-memory fake the unit tests use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.adapters.vectors.chroma import ChromaPassageIndex, _metadata, make_client
from service.domain.models import Passage, RetrievalFilter
from service.domain.ports import PassageIndex
from tests.fakes import HashingEmbedder, InMemoryPassageIndex

EMBED = HashingEmbedder()
TEXTS = [
    ("d1", "Iran denied the panel's findings on missile cooperation.", "Gulf Wire", dt.date(2021, 2, 10)),
    ("d1", "The shipment of parts took place in September 2020.", "Gulf Wire", dt.date(2021, 2, 10)),
    ("d2", "North Korea paraded a new intercontinental ballistic missile.", "Harbor Ledger", dt.date(2020, 10, 10)),
    ("d3", "Yongbyon enrichment continued through 2020.", None, None),
]


def passages() -> list[Passage]:
    return [
        Passage(
            id=f"{doc}:{i:05d}",
            document_id=doc,
            index=i,
            start=0,
            end=len(text),
            text=text,
            title=doc,
            source=source,
            published=published,
        )
        for i, (doc, text, source, published) in enumerate(TEXTS)
    ]


@pytest.fixture(params=["chroma", "in-memory"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PassageIndex]:
    if request.param == "chroma":
        yield ChromaPassageIndex(make_client(tmp_path / "chroma", None), "contract", EMBED.name)
    else:
        yield InMemoryPassageIndex()


def _fill(index: PassageIndex) -> list[Passage]:
    ps = passages()
    index.upsert(ps, EMBED.embed_documents([p.text for p in ps]))
    return ps


def test_upsert_count_all_and_replace(index: PassageIndex) -> None:
    assert index.count() == 0 and index.all_passages() == [] and index.search(EMBED.embed_query("x"), 3, None) == []
    ps = _fill(index)
    assert index.count() == 4
    assert sorted(index.all_passages(), key=lambda p: p.id) == sorted(ps, key=lambda p: p.id)
    changed = ps[0].model_copy(update={"text": "Iran welcomed the findings."})
    index.upsert([changed], EMBED.embed_documents([changed.text]))
    assert index.count() == 4 and changed in index.all_passages()


def test_search_ranks_by_similarity_in_0_1(index: PassageIndex) -> None:
    _fill(index)
    hits = index.search(EMBED.embed_query("Iran denied the panel's findings on missile cooperation."), 4, None)
    assert hits[0][0].id == "d1:00000" and hits[0][1] == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= score <= 1.0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(index.search(EMBED.embed_query("missile"), 2, None)) == 2
    assert len(index.search(EMBED.embed_query("missile"), 50, None)) == 4  # more asked than held: all of them


def test_filters_and_delete(index: PassageIndex) -> None:
    _fill(index)
    q = EMBED.embed_query("missile cooperation parade")
    assert {p.document_id for p, _ in index.search(q, 10, RetrievalFilter(document_ids=["d2", "d3"]))} == {"d2", "d3"}
    assert {p.source for p, _ in index.search(q, 10, RetrievalFilter(source="Gulf Wire"))} == {"Gulf Wire"}
    dated = index.search(q, 10, RetrievalFilter(published_from=dt.date(2021, 1, 1)))
    assert dated and {p.document_id for p, _ in dated} == {"d1"}
    assert {p.published for p, _ in dated} == {dt.date(2021, 2, 10)}
    index.delete_document("d1")
    assert index.count() == 2 and {p.document_id for p in index.all_passages()} == {"d2", "d3"}
    index.delete_document("nope")
    assert index.count() == 2


def test_all_passages_of_a_large_index(index: PassageIndex) -> None:
    """More passages than one page of a read (embedded Chroma fails one `get` of a large collection)."""
    many = [
        Passage(id=f"big:{i:05d}", document_id=f"big{i // 10}", index=i % 10, start=0, end=1, text=f"w{i}", title="t")
        for i in range(5_100)
    ]
    vectors = [[1.0 if j == i % 8 else 0.0 for j in range(8)] for i in range(len(many))]
    for start in range(0, len(many), 2_000):
        index.upsert(many[start : start + 2_000], vectors[start : start + 2_000])
    got = index.all_passages()
    assert len(got) == index.count() == 5_100 and len({p.id for p in got}) == 5_100


def test_chroma_reads_passages_stored_with_their_text_as_the_document(tmp_path: Path) -> None:
    """Stores written before the text moved into the metadata keep answering with the same passages."""
    client = make_client(tmp_path / "chroma", None)
    index = ChromaPassageIndex(client, "older", EMBED.name)
    ps = passages()
    raw = client.get_collection("older")
    raw.add(
        ids=[p.id for p in ps],
        documents=[p.text for p in ps],
        metadatas=[_metadata(p) for p in ps],
        embeddings=EMBED.embed_documents([p.text for p in ps]),  # type: ignore[arg-type]
    )
    assert sorted(index.all_passages(), key=lambda p: p.id) == sorted(ps, key=lambda p: p.id)
    top, score = index.search(EMBED.embed_query(ps[2].text), 1, None)[0]
    assert top == ps[2] and score > 0.99
