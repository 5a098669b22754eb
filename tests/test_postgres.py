"""The Postgres path, on a real PostgreSQL server: migrations, documents, the lexical index in Postgres full-text
search (per-document writes, filters, deletes), and two API replicas sharing it over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.domain.models import DocumentMeta, RetrievalFilter
from service.topology.postgres import PostgresServer
from tests.conftest import EXAMPLES, LiveServer, make_container, make_settings

REPORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def test_lexical_index_in_postgres_full_text_search(pg: PostgresServer, tmp_path: Path) -> None:
    c = make_container(make_settings(tmp_path, database_url=pg.url))
    assert c.engine.dialect.name == "postgresql"
    results, failures = c.ingest.ingest_paths(sorted(EXAMPLES.glob("*.txt")))
    assert not failures and len(results) == 10
    hits = c.lexical.search("Mavic drones shown at the parade", 5, None)
    assert hits and "Mavic" in hits[0].text
    harbor = c.lexical.search("missile cooperation", 30, RetrievalFilter(source="Harbor Ledger"))
    assert harbor and {h.source for h in harbor} == {"Harbor Ledger"}
    assert c.lexical.search("missile", 5, RetrievalFilter(collections=["elsewhere"])) == []
    fused = c.retriever.retrieve("Which company made the parade drones?", 5)
    assert any(h.bm25_rank for h in fused)
    doc = c.ingest.ingest_text(REPORT, DocumentMeta(title="t"), "k").document
    assert c.lexical.counts()[doc.id] == 3
    assert c.ingest.delete(doc.id)
    assert doc.id not in c.lexical.counts()
    assert c.ingest.reconcile().reindexed == 0
    c.close()


def test_terms_that_need_quoting_and_a_concurrent_ingest_of_one_text(pg: PostgresServer, tmp_path: Path) -> None:
    c = make_container(make_settings(tmp_path, database_url=pg.url))
    text = "O'Brien signed the F-35 deal. The COVID-19 rollout slowed the U.S. order. Tehran's reply came later."
    with ThreadPoolExecutor(max_workers=4) as pool:  # the same passage ids inserted at once from four threads
        results = list(pool.map(lambda _: c.ingest.ingest_text(text, DocumentMeta(), "same"), range(4)))
    doc_id = results[0].document.id
    assert {r.document.id for r in results} == {doc_id} and c.lexical.counts()[doc_id] == 3
    for query in ("F-35 deal", "COVID-19 rollout", "the U.S. order", "O'Brien", "Tehran's reply"):
        hits = c.lexical.search(query, 3, None)
        assert hits and hits[0].document_id == doc_id, query
    c.close()


def test_two_replicas_share_one_postgres(pg: PostgresServer, tmp_path: Path) -> None:
    """Written through one replica, found through the other at once: nothing is rebuilt per replica."""
    a = LiveServer(make_settings(tmp_path / "a", database_url=pg.url), start_llm=False, real_store=False)
    with a, LiveServer(make_settings(tmp_path / "b", database_url=pg.url), start_llm=False, real_store=False) as b:
        r = httpx.post(f"{a.url}/v1/documents", json={"text": "The Ruritanian navy bought two frigates.", "title": "R"})
        assert r.status_code == 201, r.text
        doc_id = r.json()["id"]
        assert httpx.get(f"{b.url}/v1/documents/{doc_id}").status_code == 200
        found = b.container.lexical.search("frigates", 5, None)
        assert [p.document_id for p in found] == [doc_id]
        assert httpx.delete(f"{b.url}/v1/documents/{doc_id}").status_code == 204
        assert a.container.lexical.search("frigates", 5, None) == []
