"""Concurrent and hostile clients over real HTTP, on two API replicas sharing one database and one Chroma store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings

REPORT = (
    "Round {n}: the panel said North Korea shipped missile parts to Iran in 2020. "
    "Iran denied the panel's findings. The cooperation reportedly resumed in 2020. "
    "Officials declined to comment on the shipments."
)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Two API processes' worth of app (no model) on one data dir, one database and one real Chroma store: no lock
    inside one of them can help. What they embed with is beside the point here (a hashing embedder)."""
    settings = make_settings(tmp_path, ingest_queue_depth=8)  # every concurrent post gets in
    with (
        LiveServer(settings, start_llm=False, real_embedder=False) as a,
        LiveServer(settings, start_llm=False, real_embedder=False) as b,
    ):
        yield [a, b]


def _post(url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{url}/v1/documents", json=body, timeout=120)


def _passages_of(server: LiveServer, doc_id: str) -> int:
    return sum(1 for p in server.container.index.all_passages() if p.document_id == doc_id)


def test_same_text_posted_five_wide_gives_one_document_with_all_passages(replicas: list[LiveServer]) -> None:
    with ThreadPoolExecutor(max_workers=5) as pool:
        for n in range(20):
            body = {"text": REPORT.format(n=n), "title": f"round {n}"}
            urls = [replicas[i % 2].url for i in range(5)]
            responses = list(pool.map(lambda u, b=body: _post(u, b), urls))  # type: ignore[misc]
            assert all(r.status_code in (200, 201) for r in responses), [(r.status_code, r.text) for r in responses]
            statuses = Counter(r.json()["status"] for r in responses)
            assert statuses == {"created": 1, "unchanged": 4}, statuses
            ids = {r.json()["id"] for r in responses}
            assert len(ids) == 1
            doc_id = ids.pop()
            assert _passages_of(replicas[0], doc_id) == responses[0].json()["sentence_count"] == 4
    listed = httpx.get(f"{replicas[1].url}/v1/documents").json()["items"]
    assert len(listed) == 20


def test_one_key_posted_five_wide_leaves_one_live_document_the_last_acknowledged(
    replicas: list[LiveServer],
) -> None:
    bodies = [{"text": REPORT.format(n=f"version {v}"), "key": "desk/report-7"} for v in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda v: _post(replicas[v % 2].url, bodies[v]), range(5)))
    assert all(r.status_code == 201 for r in responses), [(r.status_code, r.text) for r in responses]
    out = [r.json() for r in responses]
    assert Counter(o["status"] for o in out) == {"created": 1, "replaced": 4}
    # Saves were serialised in the database: each replaced the one before, so the replacements form one chain.
    replaced = {o["replaced_id"] for o in out if o["replaced_id"]}
    assert len(replaced) == 4
    live = [o["id"] for o in out if o["id"] not in replaced]
    assert len(live) == 1
    listed = [d["id"] for d in httpx.get(f"{replicas[0].url}/v1/documents").json()["items"]]
    assert listed == live
    indexed = {p.document_id for p in replicas[1].container.index.all_passages()}
    assert indexed == set(live) and _passages_of(replicas[0], live[0]) == 4


def test_startup_reconciliation_reindexes_a_document_whose_passages_vanished(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with LiveServer(settings, start_llm=False) as first:
        doc = _post(first.url, {"text": REPORT.format(n=1)}).json()
        first.container.index.delete_document(doc["id"])  # behind Dossier's back
        assert _passages_of(first, doc["id"]) == 0
    with LiveServer(settings, start_llm=False) as second:  # a restart reconciles
        assert _passages_of(second, doc["id"]) == doc["sentence_count"]
        hits = second.container.retriever.retrieve("Iran denied the findings", 3)
        assert hits and hits[0].passage.document_id == doc["id"]


def test_uploads_with_one_file_name_from_different_sources_both_live(api: LiveServer) -> None:
    def upload(text: str, source: str | None) -> httpx.Response:
        data = {"source": source} if source else {}
        return httpx.post(f"{api.url}/v1/documents", files={"file": ("report.txt", text.encode())}, data=data)

    a = upload(REPORT.format(n="A"), "Harbor Ledger")
    b = upload(REPORT.format(n="B"), "Pacific Arms Observatory")
    c = upload(REPORT.format(n="C"), None)
    assert [r.json()["status"] for r in (a, b, c)] == ["created", "created", "created"]
    assert len(httpx.get(f"{api.url}/v1/documents").json()["items"]) == 3
    # The same source sending a new version of its report.txt replaces it.
    a2 = upload(REPORT.format(n="A2"), "Harbor Ledger")
    assert a2.json()["status"] == "replaced" and a2.json()["replaced_id"] == a.json()["id"]
    assert len(httpx.get(f"{api.url}/v1/documents").json()["items"]) == 3
