"""Corroboration over real HTTP, real Chroma and the real embedder; the model is an OpenAI-compatible stub answering
the one-token judgements with log-probabilities. `GET /v1/facts?corroboration=true`: each stored claim's sentence is
judged against its nearest sentences of other reports, calibrated (a test calibrator following P(agree)), counted by
independent source (a publisher once, the fact's own never), each corroborating sentence cited verbatim; entities
carry none; judgements kept; the threshold override; a bounded number of new judgements a request; no
log-probabilities is a coded error."""

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

SAME = "38 shipments"
REPORTS = {  # key: text, publisher, published
    "a": ("Treasury said the firm made 38 shipments to the plant. The firm is based in Singapore.", "Treasury", 1),
    "b": ("Customs records show the firm made 38 shipments to the plant. It rained.", "Wire", 2),
    "c": ("A second wire story said 38 shipments reached the plant from the firm. It was late.", "wire ", 3),
    "d": ("The plant's director resigned in June. A new director was named.", None, 4),
}


def relation(body: dict[str, Any]) -> dict[str, float] | None:
    """The stub model: 'agree' for two sentences that both give the 38 shipments, 'unrelated' for every other."""
    user = body["messages"][-1]["content"]
    if "one word" not in user:
        return None
    if user.count(SAME) >= 2:
        return {"agree": 0.95, "unrelated": 0.03, "contradict": 0.02}
    return {"unrelated": 0.9, "agree": 0.05, "contradict": 0.05}


def _store(api: LiveServer, reports: dict[str, tuple[str, str | None, int]] = REPORTS) -> dict[str, str]:
    c = api.container
    ids = {}
    for key, (text, source, day) in reports.items():
        meta = DocumentMeta(title=f"Report {key}", source=source, published=dt.date(2024, 3, day))
        doc = c.ingest.ingest_text(text, meta, f"report-{key}").document
        ids[key] = doc.id
        first = text.split(". ")[0] + "."
        evidence = [Evidence(document_id=doc.id, start=0, end=len(first), text=first)]
        facts = {"claims": [Fact(kind="claims", fields={"statement": first, "stance": "asserts"}, evidence=evidence)]}
        if key == "a":
            name = Evidence(document_id=doc.id, start=0, end=8, text="Treasury")
            facts["entities"] = [Fact(kind="entities", fields={"name": "Treasury", "type": "org"}, evidence=[name])]
        extraction = Extraction(
            document_id=doc.id,
            schema_id=REPORT_FACTS.id,
            schema_version=REPORT_FACTS.version,
            facts=facts,
            rejected=[],
            windows=1,
            meta=RunMeta(prompt_id="extract", prompt_version=1, model="test", settings_hash="t"),
            created_at=dt.datetime.now(dt.UTC),
        )
        c.extractions.save(f"{doc.id}-facts", extraction)
    return ids


def _facts(api: LiveServer, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(f"{api.url}/v1/facts", params=params, timeout=120)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _claims(items: list[dict[str, Any]], ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[f["document_id"]]: f["corroboration"] for f in items if f["kind"] == "claims"}


def _server(tmp: Path, stub: StubServer, **kw: Any) -> LiveServer:
    settings = make_settings(tmp, llm_base_url=stub.base_url, llm_model="stub", prompts_dir=judged_prompts(tmp), **kw)
    return LiveServer(settings, start_llm=False, real_embedder=True)


def test_a_claim_is_counted_once_per_independent_source_with_each_sentence_cited(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        stub.judge_top = relation
        ids = _store(api)
        plain = _facts(api)
        assert plain and all(f["corroboration"] is None for f in plain) and not stub.judged  # no model unless asked

        items = _facts(api, corroboration="true")
        assert [f["corroboration"] for f in items if f["kind"] == "entities"] == [None]
        found = _claims(items, ids)
        # a (Treasury) is stated by b and c, both from one publisher ("Wire", "wire "): one independent source
        assert found["a"]["count"] == 1 and {s["side"]["document_id"] for s in found["a"]["sources"]} == {
            ids["b"],
            ids["c"],
        }
        # b and c share a publisher: each counts only a (Treasury), never the other
        assert found["b"]["count"] == 1 and [s["side"]["document_id"] for s in found["b"]["sources"]] == [ids["a"]]
        assert found["c"]["count"] == 1 and [s["side"]["document_id"] for s in found["c"]["sources"]] == [ids["a"]]
        assert found["d"]["count"] == 0 and found["d"]["sources"] == []
        for c in found.values():
            assert c["complete"] and c["min_confidence"] == 0.5
            assert c["meta"]["calibrator"] == "agree_calibrator/v1" and c["meta"]["prompt_id"] == "compare"
            for s in c["sources"]:
                ev = s["side"]["evidence"]
                text = api.container.repo.get(s["side"]["document_id"]).text  # type: ignore[union-attr]
                assert text[ev["start"] : ev["end"]] == ev["text"] and SAME in ev["text"] and s["confidence"] > 0.5

        asked = len(stub.judged)
        assert asked >= 2 and asked % 2 == 0  # two one-token questions a judged pair
        again = _claims(_facts(api, corroboration="true"), ids)
        assert len(stub.judged) == asked  # judgements kept: no new model call, and no cost reported
        assert all(c["meta"]["usage"]["calls"] == 0 for c in again.values())
        assert {k: (c["count"], c["sources"]) for k, c in again.items()} == {
            k: (c["count"], c["sources"]) for k, c in found.items()
        }
        strict = _claims(_facts(api, corroboration="true", corroboration_min_confidence=0.99), ids)
        assert all(c["count"] == 0 and c["min_confidence"] == 0.99 for c in strict.values())

        assert httpx.delete(f"{api.url}/v1/documents/{ids['a']}", timeout=60).status_code == 204
        after = _claims(_facts(api, corroboration="true"), ids)
        assert after["b"]["count"] == 0 and after["c"]["count"] == 0  # the publisher left is their own


def test_each_request_judges_a_bounded_number_of_new_pairs_and_says_when_it_is_not_complete(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub, disagreement_max_pairs=1) as api:
        stub.judge_top = relation
        ids = _store(api)
        rounds = []
        for _ in range(12):
            found = _claims(_facts(api, corroboration="true"), ids)
            rounds.append(found)
            if all(c["complete"] for c in found.values()):
                break
        assert len(rounds) > 1 and not all(c["complete"] for c in rounds[0].values())  # one new pair a request
        assert [c["count"] for _, c in sorted(rounds[-1].items())] == [1, 1, 1, 0]


def test_bad_parameters_are_named_and_no_log_probabilities_is_a_coded_error(tmp_path: Path) -> None:
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        for params, name in (
            ({"corroboration": "true", "corroboration_min_confidence": 2}, "corroboration_min_confidence"),
            ({"corroboration": "perhaps"}, "corroboration"),
        ):
            r = httpx.get(f"{api.url}/v1/facts", params=params, timeout=60)
            assert r.status_code == 422 and name in r.text
        stub.logprobs = False
        _store(api)
        r = httpx.get(f"{api.url}/v1/facts", params={"corroboration": "true"}, timeout=120)
        assert r.status_code == 502 and r.json()["code"] == "model_output_invalid" and "log-probabilities" in r.text
        assert len(stub.judged) <= 2  # stopped at the first pair: the two one-token questions of one judgement
        assert all(f["corroboration"] is None for f in _facts(api))  # without it, facts are still served


def test_only_the_pages_facts_are_judged_and_a_copy_corroborates_without_a_model_call(tmp_path: Path) -> None:
    copy = dict(REPORTS, e=(REPORTS["a"][0].split(". ")[0] + ". Nothing else was said.", "Gazette", 5))
    with StubServer([("content", "unused")]) as stub, _server(tmp_path, stub) as api:
        stub.judge_top = relation
        ids = _store(api, copy)
        claims = [f for f in _facts(api) if f["kind"] == "claims"]
        first = claims[0]
        page = _facts(api, corroboration="true", type="claims", limit=1)
        assert [f["evidence"] for f in page] == [first["evidence"]]
        sentence = first["evidence"][0]["text"]
        assert stub.judged and all(sentence in body["messages"][-1]["content"] for body in stub.judged)

        stub.judged.clear()
        found = _claims(_facts(api, corroboration="true"), ids)
        copied = [s for s in found["a"]["sources"] if s["side"]["document_id"] == ids["e"]]
        assert copied and copied[0]["confidence"] == 1.0 and found["a"]["count"] == 2  # Wire and Gazette
        assert found["e"]["count"] == 2 and any(s["side"]["document_id"] == ids["a"] for s in found["e"]["sources"])
        a_text, e_text = (api.container.repo.get(ids[k]).text.split(". ")[0] for k in "ae")  # type: ignore[union-attr]
        assert a_text == e_text and not any(
            body["messages"][-1]["content"].count(a_text) >= 2 for body in stub.judged
        )  # the copy was never put to the model
