"""End to end: fact extraction from a seed report with the real local model, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


def _mentions(fact: dict[str, Any], needle: str) -> bool:
    blob = " ".join(str(v) for v in fact["fields"].values()) + " " + " ".join(e["text"] for e in fact["evidence"])
    return needle.lower() in blob.lower()


@pytest.fixture(scope="module")
def extraction(e2e_api: LiveServer, seeds: list[Path]) -> tuple[str, dict[str, Any]]:
    seed = next(p for p in seeds if p.name.startswith("000_00a5075179b2cf11"))
    text = seed.read_text(encoding="utf-8")
    doc = httpx.post(f"{e2e_api.url}/documents", files={"file": (seed.name, seed.read_bytes())}, timeout=120).json()
    r = httpx.post(f"{e2e_api.url}/documents/{doc['id']}/extractions", json={}, timeout=1800)
    assert r.status_code == 200, r.text
    return text, r.json()


def test_every_fact_is_grounded(extraction: tuple[str, dict[str, Any]]) -> None:
    text, result = extraction
    facts = [f for fs in result["facts"].values() for f in fs]
    assert facts
    for f in facts:
        assert f["evidence"], f
        for e in f["evidence"]:
            assert e["text"] == text[e["start"] : e["end"]]
    assert result["meta"]["usage"]["prompt_tokens"] > 0 and result["meta"]["prompt_id"] == "extract"


def test_key_facts(extraction: tuple[str, dict[str, Any]]) -> None:
    _, result = extraction
    facts = result["facts"]
    assert any("shahid haj ali movahed" in e["fields"]["name"].lower() for e in facts["entities"]), facts["entities"]
    shipments = [e for e in facts["events"] if _mentions(e, "shipment") and e["fields"].get("date_iso") == "2020"]
    assert shipments, facts["events"]
    denials = [
        c
        for c in facts["claims"]
        if c["fields"]["stance"] == "denies" and "iran" in c["fields"]["speaker"].lower() and _mentions(c, "false")
    ]
    assert denials, facts["claims"]
    every = [f for fs in facts.values() for f in fs]
    assert any(_mentions(f, "Mavic 2 Pro") and _mentions(f, "SZ DJI Technology") for f in every), every


def test_second_request_is_served_from_the_store(e2e_api: LiveServer, extraction: tuple[str, dict[str, Any]]) -> None:
    _, result = extraction
    r = httpx.post(f"{e2e_api.url}/documents/{result['document_id']}/extractions", json={}, timeout=60)
    assert r.status_code == 200 and r.json()["cached"] is True
    assert r.json()["facts"] == result["facts"]
