"""Disagreements across reports over real HTTP, real Chroma and the real embedder; the model is an OpenAI-compatible
stub answering the one-token judgements with log-probabilities. Reports' stored claims paired by embedding, judged,
calibrated (a test calibrator following P(contradict)), each side cited to its verbatim sentence; judgements kept;
the threshold override; collections; deletes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from service.domain.facts import Evidence, Extraction, Fact
from service.domain.models import DocumentMeta, RunMeta
from service.extract.schemas import REPORT_FACTS
from tests.conftest import LiveServer, judged_prompts, make_settings
from tests.stub_openai import StubServer

REPORTS = {
    "a": (
        "Treasury said the firm made 38 shipments to the plant. The firm is based in Singapore.",
        dt.date(2024, 3, 1),
    ),
    "b": ("Customs records show at least 61 shipments from the firm to the plant. It rained.", dt.date(2024, 5, 9)),
    "c": ("The plant's director resigned in June. A new director was named.", dt.date(2024, 6, 2)),
}
CLASH = ("38 shipments", "61 shipments")


def relation(body: dict[str, Any]) -> dict[str, float] | None:
    """The stub model: 'contradict' for the two shipment counts, 'unrelated' for every other pair."""
    user = body["messages"][-1]["content"]
    if "one word" not in user:
        return None
    if all(x in user for x in CLASH):
        return {"contradict": 0.97, "unrelated": 0.02, "agree": 0.01}
    return {"unrelated": 0.9, "agree": 0.05, "contradict": 0.05}


def _store(api: LiveServer, collection: str = "default") -> dict[str, str]:
    c = api.container
    ids = {}
    for key, (text, published) in REPORTS.items():
        meta = DocumentMeta(title=f"Report {key}", published=published)
        doc = c.ingest.ingest_text(text, meta, f"{collection}-{key}", collection=collection).document
        ids[key] = doc.id
        first = text.split(". ")[0] + "."
        evidence = [Evidence(document_id=doc.id, start=0, end=len(first), text=first)]
        facts = [Fact(kind="claims", fields={"statement": first, "stance": "asserts"}, evidence=evidence)]
        extraction = Extraction(
            document_id=doc.id,
            schema_id=REPORT_FACTS.id,
            schema_version=REPORT_FACTS.version,
            facts={"claims": facts},
            rejected=[],
            windows=1,
            meta=RunMeta(prompt_id="extract", prompt_version=1, model="test", settings_hash="t"),
            created_at=dt.datetime.now(dt.UTC),
        )
        c.extractions.save(f"{doc.id}-facts", extraction)
    return ids


def _server(tmp: Path, stub: StubServer) -> LiveServer:
    settings = make_settings(tmp, llm_base_url=stub.base_url, llm_model="stub", prompts_dir=judged_prompts(tmp))
    return LiveServer(settings, start_llm=False, real_embedder=True)


def test_reports_that_contradict_each_other_are_listed_cited_and_kept(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        stub.judge_top = relation
        ids = _store(api)
        r = httpx.get(f"{api.url}/v1/disagreements", timeout=120)
        assert r.status_code == 200, r.text
        (found,) = r.json()["items"]
        assert found["confidence"] > 0.9 and found["signals"]["contradict"] > 0.9
        assert (found["a"]["document_id"], found["b"]["document_id"]) == (ids["a"], ids["b"])  # earlier report first
        for side in (found["a"], found["b"]):
            text = api.container.repo.get(side["document_id"]).text  # type: ignore[union-attr]
            ev = side["evidence"]
            assert text[ev["start"] : ev["end"]] == ev["text"] and side["kind"] == "claims"
        meta = found["meta"]
        assert meta["calibrator"] == "claim_calibrator/v1" and meta["prompt_id"] == "compare" and meta["model"]
        asked = len(stub.judged)
        assert asked >= 2 and asked % 2 == 0  # two one-token questions a judged pair

        again = httpx.get(f"{api.url}/v1/disagreements", timeout=120).json()["items"]
        assert [d["id"] for d in again] == [found["id"]] and len(stub.judged) == asked  # judgements kept
        strict = httpx.get(f"{api.url}/v1/disagreements", params={"min_confidence": 0.99}, timeout=120)
        assert strict.json()["items"] == []

        assert httpx.delete(f"{api.url}/v1/documents/{ids['b']}", timeout=60).status_code == 204
        assert httpx.get(f"{api.url}/v1/disagreements", timeout=120).json()["items"] == []


def test_bad_parameters_are_named_and_keys_see_only_their_collections(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        stub.judge_top = relation
        for params, name in (({"min_confidence": 2}, "min_confidence"), ({"limit": 0}, "limit")):
            r = httpx.get(f"{api.url}/v1/disagreements", params=params, timeout=60)
            assert r.status_code == 422 and name in r.text
        r = httpx.get(f"{api.url}/v1/disagreements", params={"collection": "no such/collection"}, timeout=60)
        assert 400 <= r.status_code < 500 and "collection" in r.text

        a = _store(api, "team-a")
        _store(api, "team-b")
        _, token = api.container.access.create("reader", ["team-a"], "a")
        seen = httpx.get(
            f"{api.url}/v1/disagreements", headers={"Authorization": f"Bearer {token}"}, timeout=120
        ).json()["items"]
        assert len(seen) == 1 and {seen[0]["a"]["document_id"], seen[0]["b"]["document_id"]} == {a["a"], a["b"]}
        other = httpx.get(
            f"{api.url}/v1/disagreements", params={"collection": "team-b"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert other.status_code in (403, 404)


def test_each_request_judges_a_bounded_number_of_new_pairs_and_the_next_goes_on(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub:
        stub.judge_top = relation
        settings = make_settings(
            tmp_path,
            llm_base_url=stub.base_url,
            llm_model="stub",
            prompts_dir=judged_prompts(tmp_path),
            disagreement_max_pairs=1,
        )
        with LiveServer(settings, start_llm=False, real_embedder=True) as api:
            _store(api)
            asked = []
            found: list[dict[str, Any]] = []
            for _ in range(4):  # three reports: three pairs, one judged a request
                r = httpx.get(f"{api.url}/v1/disagreements", timeout=120)
                assert r.status_code == 200, r.text
                asked.append(len(stub.judged))
                found = r.json()["items"]
            assert asked == [2, 4, 6, 6]  # two one-token questions a new pair; nothing new to judge at the end
            assert len(found) == 1 and all(
                x in found[0]["a"]["evidence"]["text"] + found[0]["b"]["evidence"]["text"] for x in CLASH
            )


def test_an_endpoint_without_log_probabilities_gets_a_coded_error_not_an_empty_list(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        stub.logprobs = False
        _store(api)
        r = httpx.get(f"{api.url}/v1/disagreements", timeout=120)
        assert r.status_code == 502 and r.json()["code"] == "model_output_invalid" and "log-probabilities" in r.text
