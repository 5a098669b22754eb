"""End to end: fact extraction from a seed report with the real local model, over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.extract.attribution import DENIAL
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


def _mentions(fact: dict[str, Any], needle: str) -> bool:
    blob = " ".join(str(v) for v in fact["fields"].values()) + " " + " ".join(e["text"] for e in fact["evidence"])
    return needle.lower() in blob.lower()


@pytest.fixture(scope="module")
def extraction(e2e_api: LiveServer, seeds: list[Path]) -> tuple[str, dict[str, Any]]:
    seed = next(p for p in seeds if p.name.startswith("000_00a5075179b2cf11"))
    text = seed.read_text(encoding="utf-8")
    doc = httpx.post(f"{e2e_api.url}/v1/documents", files={"file": (seed.name, seed.read_bytes())}, timeout=120).json()
    r = httpx.post(f"{e2e_api.url}/v1/documents/{doc['id']}/extractions", json={}, timeout=60)
    assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{r.json()['id']}", r.text  # a long report
    deadline = time.monotonic() + 1800
    while (job := httpx.get(f"{e2e_api.url}{r.headers['location']}", timeout=30).json())["state"] in (
        "pending",
        "running",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(2)
    assert job["state"] == "completed" and job["kind"] == "extraction", job
    (newest, *_) = httpx.get(f"{e2e_api.url}/v1/documents/{doc['id']}/extractions", timeout=30).json()["items"]
    return text, newest


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
    """Facts any correct extraction of this report holds, in whatever kind or wording the model chose; how many it
    finds is the eval's business (extract.* metrics), not this test's."""
    _, result = extraction
    facts = result["facts"]
    every = [f for fs in facts.values() for f in fs]
    assert any(_mentions(f, "Shahid Haj Ali Movahed") for f in every), every
    assert any(_mentions(f, "Mavic 2 Pro") for f in every) and any(_mentions(f, "DJI") for f in every), every
    assert any(_mentions(f, "shipment") for f in facts["events"] + facts["claims"]), facts["events"] + facts["claims"]
    for event in facts["events"]:  # a normalised date is one the evidence states
        iso = event["fields"].get("date_iso")
        if iso:
            assert any(iso[:4] in e["text"] for e in event["evidence"]), event
    for claim in facts["claims"]:  # denial wording in the evidence always makes the stance `denies`
        if DENIAL.search(" ".join(e["text"] for e in claim["evidence"])):
            assert claim["fields"]["stance"] == "denies", claim


def test_second_request_is_served_from_the_store(e2e_api: LiveServer, extraction: tuple[str, dict[str, Any]]) -> None:
    _, result = extraction
    r = httpx.post(f"{e2e_api.url}/v1/documents/{result['document_id']}/extractions", json={}, timeout=60)
    assert r.status_code == 200 and r.json()["cached"] is True
    assert r.json()["facts"] == result["facts"]
