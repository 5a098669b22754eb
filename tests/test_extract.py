"""Extraction with a scripted model (loopback stub): grounding, rejections, cache, custom schemas, API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.container import Container
from service.domain.errors import InvalidInput, NotFound
from service.domain.models import DocumentMeta
from service.extract.schemas import custom_schema, get_schema
from tests.conftest import LiveServer, make_container, make_settings
from tests.stub_openai import StubServer

REPORT = (
    "Iran told the panel that false information may have been used. "
    "The most recent shipment took place in 2020, the panel said. "
    "The drones were of the Mavic 2 Pro type made by SZ DJI Technology."
)
OUTPUT = {
    "entities": [
        {"name": "Iran", "type": "country", "aliases": [], "sentences": [1]},
        {"name": "SZ DJI Technology", "type": "company", "aliases": ["DJI"], "sentences": [3]},
        {"name": "Rosoboronexport", "type": "company", "aliases": [], "sentences": [3]},
        {"name": "Mavic 2 Pro", "type": "weapon system", "aliases": [], "sentences": [1]},
    ],
    "events": [
        {"what": "the most recent shipment took place", "actors": ["panel"], "date": "2020", "sentences": [2]},
        {"what": "a shipment took place", "actors": ["panel"], "date": "2018", "sentences": [2]},
    ],
    "claims": [
        {
            "statement": "false information may have been used",
            "speaker": "Iran",
            "stance": "denies",
            "hedging": "may",
            "sentences": [1],
        },
        {
            "statement": "false information may have been used",
            "speaker": "Hezbollah",
            "stance": "denies",
            "hedging": "",
            "sentences": [1],
        },
    ],
    "quantities": [{"value": "99", "unit": "drones", "measures": "drones", "sentences": [3]}],
}


def _container(tmp: Path, stub: StubServer) -> Container:
    return make_container(make_settings(tmp, llm_base_url=stub.base_url, llm_model="stub"))


def _doc(c: Container) -> str:
    return c.ingest.ingest_text(REPORT, DocumentMeta(title="t")).document.id


def test_grounding_and_rejections(tmp_path: Path) -> None:
    with StubServer([("content", json.dumps(OUTPUT))]) as stub:
        c = _container(tmp_path, stub)
        result = c.extract.extract(_doc(c), get_schema(None))
    names = {f.fields["name"] for f in result.facts["entities"]}
    assert names == {"Iran", "SZ DJI Technology", "Mavic 2 Pro"}  # Mavic relocated from sentence 1 to 3
    mavic = next(f for f in result.facts["entities"] if f.fields["name"] == "Mavic 2 Pro")
    assert mavic.evidence[0].text == "Mavic 2 Pro" and mavic.evidence[0].grounding == "exact"
    for facts in result.facts.values():
        for f in facts:
            for e in f.evidence:
                assert e.text == REPORT[e.start : e.end]
    (event,) = result.facts["events"]
    assert event.fields["date_iso"] == "2020"
    reasons = {(r.kind, json.dumps(r.fields, sort_keys=True)): r.reason for r in result.rejected}
    assert any("Rosoboronexport" in k[1] and "not found" in v for k, v in reasons.items())
    assert any(k[0] == "events" and "2018" in v for k, v in reasons.items())
    assert any("Hezbollah" in v for v in reasons.values())
    assert any(k[0] == "quantities" and "99" in v for k, v in reasons.items())
    assert result.fact_count == 5 and len(result.rejected) == 4
    assert result.meta.usage.calls == 1 and result.meta.prompt_id == "extract"


def test_cache_hit_refresh_and_invalidation(tmp_path: Path) -> None:
    with StubServer([("content", json.dumps(OUTPUT))]) as stub:
        c = _container(tmp_path, stub)
        doc_id = _doc(c)
        first = c.extract.extract(doc_id, get_schema(None))
        again = c.extract.extract(doc_id, get_schema(None))
        assert again.cached and not first.cached and len(stub.requests) == 1
        assert again.facts == first.facts
        c.extract.extract(doc_id, get_schema(None), refresh=True)
        assert len(stub.requests) == 2
        # a changed document under the same key replaces the old one and drops its extractions
        c.ingest.ingest_text(REPORT, DocumentMeta(), "key")
        new = c.ingest.ingest_text(REPORT + " More text here.", DocumentMeta(), "key").document
        assert c.extractions.for_document(new.id) == []
        assert c.ingest.delete(doc_id)
        assert c.extractions.for_document(doc_id) == []


def test_invalid_output_is_reasked(tmp_path: Path) -> None:
    bad = json.dumps({"entities": [{"name": "Iran"}]})  # no type, no sentences, kinds missing
    with StubServer([("content", bad), ("content", json.dumps(OUTPUT))]) as stub:
        c = _container(tmp_path, stub)
        result = c.extract.extract(_doc(c), get_schema(None))
        assert len(stub.requests) == 2 and result.meta.usage.calls == 2
        assert "did not match the required JSON schema" in stub.requests[1]["messages"][-1]["content"]


CUSTOM: dict[str, Any] = {
    "id": "drone-sightings",
    "kinds": {
        "drones": {
            "description": "drone models and makers",
            "fields": {"model": {"type": "string"}, "maker": {"type": "string"}},
        }
    },
}


def test_custom_schema(tmp_path: Path) -> None:
    out = {"drones": [{"model": "Mavic 2 Pro", "maker": "SZ DJI Technology", "sentences": [3]}]}
    with StubServer([("content", json.dumps(out))]) as stub:
        c = _container(tmp_path, stub)
        result = c.extract.extract(_doc(c), custom_schema(json.loads(json.dumps(CUSTOM))))
        sent = stub.requests[0]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["drones"]["items"]["required"] == ["model", "maker", "sentences"]
    (fact,) = result.facts["drones"]
    assert fact.evidence[0].text == "Mavic 2 Pro" and result.schema_id == "drone-sightings"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"id": "x"}, "kinds"),
        ({"id": "x", "kinds": {"k": {"fields": {}}}}, "fields"),
        ({"id": "x", "kinds": {"k": {"fields": {"a": {"type": "object"}}}}}, "type must be"),
        ({"id": "x", "kinds": {"k": {"fields": {"sentences": {"type": "string"}}}}}, "reserved"),
        ({"id": "x", "kinds": {"k": {"fields": {"n": {"type": "number"}}}}}, "string field"),
        ({"id": "Bad Id!", "kinds": {"k": {"fields": {"a": {"type": "string"}}}}}, "id"),
        ({"id": "report-facts", "kinds": {"k": {"fields": {"a": {"type": "string"}}}}}, "clashes"),
    ],
)
def test_invalid_custom_schema(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        custom_schema(raw)


def test_unknown_schema() -> None:
    with pytest.raises(NotFound, match="registered: report-facts, shipments"):
        get_schema("nope")


def test_extraction_api_and_facts_query(tmp_path: Path) -> None:
    with StubServer([("content", json.dumps(OUTPUT))]) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub")
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            doc_id = httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "T"}).json()["id"]
            r = httpx.post(f"{api.url}/v1/documents/{doc_id}/extractions", json={}, timeout=60)
            assert r.status_code == 200, r.text
            body = r.json()
            facts = [f for fs in body["facts"].values() for f in fs]
            assert facts and all(e["text"] == REPORT[e["start"] : e["end"]] for f in facts for e in f["evidence"])
            assert len(httpx.get(f"{api.url}/v1/documents/{doc_id}/extractions").json()["items"]) == 1
            found = httpx.get(f"{api.url}/v1/facts", params={"entity": "dji"}).json()["items"]
            assert {f["kind"] for f in found} == {"entities"} and found[0]["document_title"] == "T"
            companies = httpx.get(f"{api.url}/v1/facts", params={"type": "company"}).json()["items"]
            assert [f["fields"]["name"] for f in companies] == ["SZ DJI Technology"]
            claims = httpx.get(f"{api.url}/v1/facts", params={"type": "claims", "entity": "iran"}).json()["items"]
            assert claims[0]["fields"]["stance"] == "denies"
            errors = [
                httpx.post(f"{api.url}/v1/documents/doc_nope/extractions", json={}),
                httpx.post(f"{api.url}/v1/documents/{doc_id}/extractions", json={"schema": "nope"}),
                httpx.post(f"{api.url}/v1/documents/{doc_id}/extractions", json={"custom_schema": {"id": "x"}}),
                httpx.get(f"{api.url}/v1/documents/doc_nope/extractions"),
            ]
            assert [e.status_code for e in errors] == [404, 404, 422, 404]
            assert "nope" in errors[1].json()["detail"]
            assert len(stub.requests) == 1
