"""Ingestion over real SQLite and in-memory fakes of the index and embedder (real Chroma where it is the point)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.container import Container
from service.domain.errors import EmbeddingModelMismatch, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from service.domain.models import DocumentMeta, RetrievalFilter
from service.ingest.service import document_id
from tests.conftest import EXAMPLES, make_container, make_settings

REPORT = "Iran denied the report. The panel cited a member state.\n\nThe shipment took place in 2020."


def counts(c: Container) -> tuple[int, int]:
    return len(c.repo.ids()), c.index.count()


def test_ids_are_deterministic(container: Container) -> None:
    r1 = container.ingest.ingest_text(REPORT, DocumentMeta(title="t"), "k1")
    assert r1.document.id == document_id(REPORT)
    passages = sorted(p.id for p in container.index.all_passages())
    assert passages == [f"{r1.document.id}:{i:05d}" for i in range(3)]


def test_reingest_is_a_noop(container: Container) -> None:
    files = sorted(EXAMPLES.glob("*.txt"))
    first, _ = container.ingest.ingest_paths(files)
    before = counts(container)
    second, failures = container.ingest.ingest_paths(files)
    assert not failures
    assert {r.status for r in first} == {"created"}
    assert {r.status for r in second} == {"unchanged"}
    assert counts(container) == before and before[0] == len(files)


def test_changed_document_replaces_its_chunks(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text(REPORT)
    container.ingest.ingest_paths([path])
    old_id = document_id(REPORT)
    path.write_text(REPORT + " A new sentence about Yongbyon.")
    (result,), _ = container.ingest.ingest_paths([path])
    assert result.status == "replaced" and result.replaced_id == old_id
    assert counts(container) == (1, 4)
    assert {p.document_id for p in container.index.all_passages()} == {result.document.id}
    hits = container.retriever.retrieve("shipment 2020", 5)
    assert hits and all(h.passage.document_id == result.document.id for h in hits)


def test_delete_removes_from_retrieval(container: Container) -> None:
    doc = container.ingest.ingest_text(REPORT, DocumentMeta(), "k").document
    other = container.ingest.ingest_text("Yongbyon enrichment continued in 2020.", DocumentMeta(), "k2").document
    assert any(h.passage.document_id == doc.id for h in container.retriever.retrieve("Iran denied", 5))
    assert container.ingest.delete(doc.id)
    hits = container.retriever.retrieve("Iran denied the report", 5)
    assert hits and all(h.passage.document_id == other.id for h in hits)
    assert not container.ingest.delete(doc.id)


def test_orphan_passages_are_ignored_and_reconciled(container: Container) -> None:
    doc = container.ingest.ingest_text(REPORT, DocumentMeta(), "k").document
    container.repo.delete(doc.id)  # simulate a crash between the two stores
    assert container.retriever.retrieve("Iran denied", 5) == []
    assert container.ingest.reconcile().orphans == 1
    assert container.index.count() == 0


def test_reconcile_reindexes_a_document_whose_passages_were_deleted(container: Container) -> None:
    doc = container.ingest.ingest_text(REPORT, DocumentMeta(), "k").document
    container.index.delete_document(doc.id)  # behind Dossier's back: vectors, then the lexical rows
    assert all(h.vector_rank is None for h in container.retriever.retrieve("Iran denied", 5))
    container.lexical.delete_document(doc.id)
    assert container.retriever.retrieve("Iran denied", 5) == []
    assert container.ingest.reconcile().reindexed == 1
    assert container.index.count() == doc.sentence_count == sum(container.lexical.counts().values())
    hits = container.retriever.retrieve("Iran denied", 5)
    assert hits[0].passage.document_id == doc.id and hits[0].vector_rank and hits[0].bm25_rank
    assert container.ingest.reconcile().reindexed == 0


def test_the_lexical_index_is_written_per_document_and_never_rebuilt(container: Container) -> None:
    """One more report adds its own rows; deleting one removes only its rows; the other's are untouched."""
    first = container.ingest.ingest_text(REPORT, DocumentMeta(), "k1").document
    rows_before = container.lexical.counts()
    other = container.ingest.ingest_text("Pyongyang denied buying drones. The ministry said so.", DocumentMeta(), "k2")
    counts = container.lexical.counts()
    assert counts[first.id] == rows_before[first.id] and counts[other.document.id] == other.document.sentence_count
    assert [p.document_id for p in container.lexical.search("drones", 5, None)] == [other.document.id]
    container.ingest.delete(other.document.id)
    assert container.lexical.counts() == rows_before
    assert container.lexical.search("drones", 5, None) == []


def test_filters(container: Container) -> None:
    container.ingest.ingest_paths(sorted(EXAMPLES.glob("*.txt")))
    by_source = container.retriever.retrieve("missile cooperation", 10, RetrievalFilter(source="Harbor Ledger"))
    assert by_source and {h.passage.source for h in by_source} == {"Harbor Ledger"}
    import datetime as dt

    flt = RetrievalFilter(published_from=dt.date(2021, 2, 11), published_to=dt.date(2021, 2, 28))
    dated = container.retriever.retrieve("missile cooperation sanctions", 10, flt)
    assert dated and all(h.passage.published and flt.admits(h.passage) for h in dated)


@pytest.mark.parametrize(
    ("text", "error"),
    [("", InvalidInput), ("   \n\t ", InvalidInput), ("x" * 2_000, PayloadTooLarge)],
)
def test_bad_text(tmp_path: Path, text: str, error: type[Exception]) -> None:
    c = make_container(make_settings(tmp_path, max_upload_bytes=1_000))
    with pytest.raises(error):
        c.ingest.ingest_text(text, DocumentMeta())
    assert counts(c) == (0, 0)


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("a.exe", b"MZ\x90\x00", UnsupportedMediaType),
        ("a.txt", b"\x00\x01\x02binary", UnsupportedMediaType),
        ("a.txt", "café".encode("latin-1"), UnsupportedMediaType),
        ("a.pdf", b"not a pdf", UnsupportedMediaType),
        ("a.txt", b"", InvalidInput),
    ],
)
def test_bad_files(container: Container, name: str, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        container.ingest.ingest_bytes(name, data, DocumentMeta())
    assert counts(container) == (0, 0)


def test_html_and_markdown(container: Container) -> None:
    html = b"<html><head><style>p{}</style></head><body><h1>Panel</h1><p>Iran denied it.</p></body></html>"
    doc = container.ingest.ingest_bytes("r.html", html, DocumentMeta()).document
    assert doc.text == "Panel\nIran denied it."
    md = container.ingest.ingest_bytes("r.md", b"# Title\n\nBody text here.", DocumentMeta()).document
    assert md.text == "# Title\n\nBody text here."


def test_embedding_model_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    c = make_container(make_settings(tmp_path), real_store=True)
    c.ingest.ingest_text(REPORT, DocumentMeta())
    other = make_container(make_settings(tmp_path, embedding_model="another-model"), real_store=True)
    with pytest.raises(EmbeddingModelMismatch, match="all-MiniLM-L6-v2"):
        _ = other.index


def test_lexical_terms_with_hyphens_dots_and_apostrophes_are_found(container: Container) -> None:
    doc = container.ingest.ingest_text(HARD_TERMS, DocumentMeta(), "hard").document
    for query in ("F-35 deal", "COVID-19 rollout", "the U.S. order", "O'Brien"):
        hits = container.lexical.search(query, 3, None)
        assert hits and hits[0].document_id == doc.id, query


HARD_TERMS = "O'Brien signed the F-35 deal. The COVID-19 rollout slowed the U.S. order."


def test_files_embedded_together_are_each_stored_or_refused_alone(container: Container, tmp_path: Path) -> None:
    """A folder is embedded in batches across files; each file still gets its own outcome, in order: a bad file
    fails alone, a text repeated in the same batch is stored once (the second is `unchanged`, as when ingested one
    by one), a file ingested before stays unchanged."""
    (tmp_path / "a.txt").write_text("Acme shipped forty centrifuges in 2020. Ruritania denied it.")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "c.txt").write_text("Acme shipped forty centrifuges in 2020. Ruritania denied it.")
    (tmp_path / "d.txt").write_text("The panel met in Zenda. It found two violations.")
    container.ingest.ingest_paths([tmp_path / "d.txt"])
    seen: list[tuple[str, str]] = []
    results, failures = container.ingest.ingest_paths(
        sorted(tmp_path.glob("*.txt")),
        on_progress=lambda p, o: seen.append((p.name, getattr(o, "status", "failed"))),
    )
    assert seen == [("a.txt", "created"), ("b.txt", "failed"), ("c.txt", "unchanged"), ("d.txt", "unchanged")]
    assert [f.path for f in failures] == [str(tmp_path / "b.txt")]
    assert results[0].document.id == results[1].document.id  # one document: the same text in two files
    assert container.lexical.counts()[results[0].document.id] == 2
    hits = container.retriever.retrieve("Who shipped centrifuges?", 3)
    assert hits[0].passage.document_id == results[0].document.id


def test_a_file_that_breaks_the_shared_embedding_call_fails_alone(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files embedded together share one encoder call; when that call fails, each file is tried alone, so only
    the file the encoder refuses fails and the others are stored."""
    embedder = container.embedder
    real = embedder.embed_documents

    def refuses_poison(texts: list[str]) -> list[list[float]]:
        if any("POISON" in t for t in texts):
            raise InvalidInput("the encoder refused this text")
        return real(texts)

    monkeypatch.setattr(embedder, "embed_documents", refuses_poison)
    (tmp_path / "a.txt").write_text("Acme shipped forty centrifuges in 2020. Ruritania denied it.")
    (tmp_path / "b.txt").write_text("A POISON sentence the encoder refuses. Another one follows it.")
    (tmp_path / "c.txt").write_text("The panel met in Zenda. It found two violations.")
    results, failures = container.ingest.ingest_paths(sorted(tmp_path.glob("*.txt")))
    assert [f.path for f in failures] == [str(tmp_path / "b.txt")]
    assert "refused" in failures[0].error
    assert [r.status for r in results] == ["created", "created"]
    assert container.retriever.retrieve("Who shipped centrifuges?", 3)[0].passage.document_id == results[0].document.id
