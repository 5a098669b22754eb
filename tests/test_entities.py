"""Entities across reports over real HTTP, with the real embedder and the shipped entity calibrator: reports' entity
facts joined by the calibrated pair decision, filters, the threshold override, collections, and deletes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.domain.facts import Evidence, Extraction, Fact
from service.domain.models import DocumentMeta, RunMeta
from service.extract.entities import name_signals
from service.extract.schemas import REPORT_FACTS
from tests.conftest import LiveServer, make_settings

REPORTS = {
    "a": ("Kestrel Open Source Lab counted the shells at Rajin. Korvex said nothing.", dt.date(2024, 3, 1)),
    "b": ("Kestrel said the shells left Rajin in May. The lab shared its photographs.", dt.date(2024, 5, 9)),
    "c": ("Korvex, an exchange in Tallinn, froze the accounts.", dt.date(2024, 6, 2)),
}
ENTITIES = {  # report -> (name, aliases, type)
    "a": [("Kestrel Open Source Lab", [], "organization"), ("Korvex", [], "company")],
    "b": [("Kestrel", ["the lab"], "organization")],
    "c": [("Korvex", [], "company"), ("Tallinn", [], "place")],
}


def _store(api: LiveServer, collection: str = "default") -> dict[str, str]:
    c = api.container
    ids = {}
    for key, (text, published) in REPORTS.items():
        meta = DocumentMeta(title=f"Report {key}", published=published)
        doc = c.ingest.ingest_text(text, meta, f"{collection}-{key}", collection=collection).document
        ids[key] = doc.id
        facts = []
        for name, aliases, kind in ENTITIES[key]:
            start = text.index(name)
            evidence = [Evidence(document_id=doc.id, start=start, end=start + len(name), text=name, grounding="exact")]
            facts.append(
                Fact(kind="entities", fields={"name": name, "aliases": aliases, "type": kind}, evidence=evidence)
            )
        extraction = Extraction(
            document_id=doc.id,
            schema_id=REPORT_FACTS.id,
            schema_version=REPORT_FACTS.version,
            facts={"entities": facts},
            rejected=[],
            windows=1,
            meta=RunMeta(prompt_id="extract", prompt_version=1, model="test", settings_hash="t"),
            created_at=dt.datetime.now(dt.UTC),
        )
        c.extractions.save(f"{doc.id}-facts", extraction)
    return ids


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(make_settings(tmp_path_factory.mktemp("entities")), start_llm=False, real_embedder=True) as server:
        yield server


def test_name_signals_are_measures_not_lists() -> None:
    v = [1.0, 0.0]
    within = name_signals("Kestrel", "Kestrel Open Source Lab", v, v)
    assert within["contained"] == 1.0 and within["cosine"] == pytest.approx(1.0)
    apart = name_signals("Korvex", "Chainsight", v, [0.0, 1.0])
    assert apart["contained"] == 0.0 and apart["cosine"] == 0.0 and (apart["token_set"] or 0) < 0.5


def test_reports_naming_one_entity_are_joined_with_dates_mentions_and_spans(api: LiveServer) -> None:
    ids = _store(api)
    r = httpx.get(f"{api.url}/v1/entities", params={"name": "kestrel"}, timeout=60)
    assert r.status_code == 200, r.text
    (kestrel,) = r.json()["items"]
    assert kestrel["documents"] == 2 and kestrel["name"] == "Kestrel Open Source Lab"
    assert kestrel["first_reported"] == "2024-03-01" and kestrel["last_reported"] == "2024-05-09"
    assert "Kestrel" in kestrel["aliases"] and 0 < kestrel["confidence"] < 1
    assert kestrel["calibrator"].startswith("entity_calibrator/v")
    full = httpx.get(f"{api.url}/v1/entities/{kestrel['id']}", timeout=60).json()
    assert {m["document_id"] for m in full["mentions"]} == {ids["a"], ids["b"]}
    for mention in full["mentions"]:
        text = api.container.repo.get(mention["document_id"]).text  # type: ignore[union-attr]
        assert all(text[e["start"] : e["end"]] == e["text"] for e in mention["evidence"])
    places = httpx.get(f"{api.url}/v1/entities", params={"type": "place"}, timeout=60).json()["items"]
    assert [e["name"] for e in places] == ["Tallinn"]
    korvex = httpx.get(f"{api.url}/v1/entities", params={"name": "korvex"}, timeout=60).json()["items"]
    assert len(korvex) == 1 and korvex[0]["documents"] == 2 and korvex[0]["confidence"] > 0.9

    strict = httpx.get(f"{api.url}/v1/entities", params={"name": "kestrel", "min_confidence": 1.0}, timeout=60)
    assert [e["documents"] for e in strict.json()["items"]] == [1, 1]  # no link is certain: each report its own

    assert httpx.delete(f"{api.url}/v1/documents/{ids['b']}", timeout=60).status_code == 204
    after = httpx.get(f"{api.url}/v1/entities", params={"name": "kestrel"}, timeout=60).json()["items"]
    assert [e["documents"] for e in after] == [1] and after[0]["id"] != kestrel["id"]
    gone = httpx.get(f"{api.url}/v1/entities/{kestrel['id']}", timeout=60)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_bad_parameters_are_named(api: LiveServer) -> None:
    r = httpx.get(f"{api.url}/v1/entities", params={"min_confidence": 2}, timeout=60)
    assert r.status_code == 422 and "min_confidence" in r.text
    r = httpx.get(f"{api.url}/v1/entities", params={"limit": 0}, timeout=60)
    assert r.status_code == 422 and "limit" in r.text
    r = httpx.get(f"{api.url}/v1/entities", params={"collection": "no such/collection"}, timeout=60)
    assert 400 <= r.status_code < 500 and "collection" in r.text


def test_a_key_sees_only_its_collections_entities(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path), start_llm=False, real_embedder=True) as api:
        _store(api, "team-a")
        _store(api, "team-b")
        _, token = api.container.access.create("reader", ["team-a"], "a")
        _, admin = api.container.access.create("admin", None, "admin")
        seen = httpx.get(f"{api.url}/v1/entities", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        everything = httpx.get(f"{api.url}/v1/entities", headers={"Authorization": f"Bearer {admin}"}, timeout=60)
        kestrel = next(e for e in everything.json()["items"] if e["name"].startswith("Kestrel"))
        assert kestrel["documents"] == 4  # both collections' reports, for a key that sees both
        assert all(e["documents"] <= 2 for e in seen["items"]) and len(seen["items"]) == 3
        other = httpx.get(
            f"{api.url}/v1/entities", params={"collection": "team-b"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert other.status_code in (403, 404)
        hidden = httpx.get(
            f"{api.url}/v1/entities/{kestrel['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert hidden.status_code == 404  # joined over team-b's reports too: not an entity this key can see


def test_candidates_are_pairs_sharing_a_word_or_near_by_embedding_never_one_report() -> None:
    from service.extract.entities import _candidates, _Node

    def node(doc: str, name: str) -> _Node:
        return _Node(doc, doc, dt.date(2024, 1, 1), [name], None, [])

    nodes = [node(f"d{i}", f"Name{i}") for i in range(30)]  # no shared words
    nodes += [node("d0", "Lab One"), node("d1", "Lab Two"), node("d1", "Lab Three")]
    vectors = {n.names[0]: [float(i == j) for j in range(40)] for i, n in enumerate(nodes)}
    vectors["Name7"] = vectors["Name3"]  # two names the embedding calls close, with no word in common
    pairs = set(_candidates(nodes, vectors))
    assert (3, 7) in pairs
    assert (30, 31) in pairs and (30, 32) in pairs and (31, 32) not in pairs  # one report's pair is never scored
    assert all(nodes[a].document_id != nodes[b].document_id for a, b in pairs)
    assert len(pairs) < len(nodes) * (len(nodes) - 1) // 2
