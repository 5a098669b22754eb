"""End to end: a summary batch over the seeds with the real local model, then only the newcomer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.domain.models import DocumentMeta
from service.summarize.service import SummarizeService
from tests.conftest import EXAMPLES, LiveServer

pytestmark = pytest.mark.e2e


def _run_batch(api: LiveServer) -> dict[str, Any]:
    r = httpx.post(f"{api.url}/v1/summaries/batch", json={}, timeout=60)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 1800
    while (job := httpx.get(f"{api.url}/v1/jobs/{job_id}", timeout=30).json())["state"] in ("pending", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(2)
    return job


def _check_summary(api: LiveServer, doc_id: str) -> None:
    text = httpx.get(f"{api.url}/v1/documents/{doc_id}").json()["text"]
    summary = httpx.get(f"{api.url}/v1/summaries/{doc_id}").json()
    assert summary["sentences"], summary
    for sentence in summary["sentences"]:
        assert sentence["citations"]
        for c in sentence["citations"]:
            assert c["quote"] == text[c["start"] : c["end"]]
    assert summary["meta"]["prompt_id"] == "summarize" and summary["meta"]["model"]


def test_batch_then_only_the_new_report(e2e_api: LiveServer, seeds: list[Path]) -> None:
    for job in httpx.get(f"{e2e_api.url}/v1/jobs").json()["items"]:  # earlier e2e modules may have batched already
        assert job["state"] not in ("pending", "running")
    ids = []
    for path in seeds:
        r = httpx.post(f"{e2e_api.url}/v1/documents", files={"file": (path.name, path.read_bytes())}, timeout=120)
        ids.append(r.json()["id"])
    job = _run_batch(e2e_api)
    assert job["state"] == "completed", [(i["state"], i.get("error")) for i in job["items"]]
    assert {i["document_id"] for i in job["items"]} >= set(ids)
    for doc_id in ids:
        _check_summary(e2e_api, doc_id)
    assert job["digest"] is not None and job["digest"]["markdown"].startswith("# Digest")

    extra = EXAMPLES / "02_iran_denial.txt"
    new_id = httpx.post(f"{e2e_api.url}/v1/documents", files={"file": (extra.name, extra.read_bytes())}, timeout=120)
    second = _run_batch(e2e_api)
    assert [i["document_id"] for i in second["items"]] == [new_id.json()["id"]]
    _check_summary(e2e_api, new_id.json()["id"])
    nothing = httpx.post(f"{e2e_api.url}/v1/summaries/batch", json={})
    assert nothing.status_code == 200 and nothing.json()["job_id"] is None


def test_summary_sentences_scored_against_their_citations_by_the_real_model(e2e_api: LiveServer) -> None:
    """`DOSSIER_SUMMARY_CONFIDENCE`: each kept sentence gets the calibrated P(its cited sentences state it) from the
    real model's judgement (kept sentences measured 0.99-1.00 over 50 dev sentences)."""
    c = e2e_api.container
    scoring = SummarizeService(
        c.chat,
        c.prompts,
        c.extractions,
        settings_hash=c.settings.settings_hash(),
        window_chars=c.settings.summary_window_chars,
        judge=c.pair_judge,
        sentence_confidence=True,
    )
    text = (EXAMPLES / "02_iran_denial.txt").read_text(encoding="utf-8")
    doc = c.ingest.ingest_text(text, DocumentMeta(title="Iran denial"), "e2e-02").document  # or the stored one
    summary = scoring.summarize(doc)
    assert summary.sentences and summary.meta.calibrator == c.pair_judge.agree_calibrator.ref
    for sentence in summary.sentences:
        assert sentence.confidence is not None and 0.5 < sentence.confidence <= 1.0, sentence
        assert all(cit.quote == doc.text[cit.start : cit.end] for cit in sentence.citations)
