"""Summary batches against a scripted model on loopback: verification, resume after kill, isolation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from service.container import Container
from service.domain.models import DocumentMeta
from tests.conftest import ROOT, LiveServer, judged_prompts, make_container, make_settings
from tests.stub_openai import StubServer

SUMMARY = json.dumps(
    {
        "sentences": [
            {"text": "Iran denied the panel's findings.", "sentences": [1]},
            {"text": "The panel counted launchers.", "sentences": [2]},
            {"text": "Russia paid 5 million dollars.", "sentences": [1]},
        ]
    }
)
DIGEST = json.dumps(
    {
        "new": [{"text": "Iran denied the panel's findings.", "sentences": [1]}],
        "agreements": [{"text": "Iran denied the panel's findings.", "sentences": [1, 3]}],
        "contradictions": [{"text": "The panel counted launchers.", "sentences": [1]}],
    }
)


def reply(body: dict[str, Any], delay: float = 0.0, poison: str = "POISON") -> tuple[Any, ...]:
    """Answer summary and digest requests by schema name; a poisoned report gets a permanent 400."""
    name = body["response_format"]["json_schema"]["name"]
    if poison in body["messages"][-1]["content"]:
        return ("status", 400)
    text = DIGEST if name == "digest" else SUMMARY
    return ("sleep", delay, text) if delay else ("content", text)


def report(i: int, extra: str = "") -> str:
    return f"Iran denied the panel's findings in report {i}. The panel counted launchers. {extra}".strip()


def _container(tmp: Path, stub: StubServer) -> Container:
    return make_container(make_settings(tmp, llm_base_url=stub.base_url, llm_model="stub", llm_max_attempts=1))


def _judged_settings(tmp: Path, stub: StubServer, **kw: Any) -> Settings:
    """Settings on the stub model with test calibrators that follow the stub's judgements."""
    return make_settings(
        tmp, llm_base_url=stub.base_url, llm_model="stub", llm_max_attempts=1, prompts_dir=judged_prompts(tmp), **kw
    )


def test_batch_summarises_new_reports_once_and_digests(tmp_path: Path) -> None:
    with StubServer([reply]) as stub:
        c = _container(tmp_path, stub)
        docs = [c.ingest.ingest_text(report(i), DocumentMeta(title=f"R{i}"), f"k{i}").document for i in range(2)]
        job = c.batches.create()
        assert job is not None and job.total == 2
        final = c.batches.run(job.id)
        assert final.state == "completed" and final.done == 2
        for d in docs:
            summary = c.jobs.summary(d.id)
            assert summary is not None
            assert [s.text for s in summary.sentences] == [
                "Iran denied the panel's findings.",
                "The panel counted launchers.",
            ]
            assert "numbers not in cited passages" in summary.rejected[0].reason
            for s in summary.sentences:
                for cit in s.citations:
                    assert cit.quote == d.text[cit.start : cit.end]
            assert summary.meta.prompt_id == "summarize" and summary.meta.model == "stub"
        assert final.digest is not None
        kinds = {p.kind for p in final.digest.points}
        assert kinds == {"new", "agreement"}  # the one-report "contradiction" is rejected
        assert "rests on fewer than 2 reports" in final.digest.rejected[0].reason
        assert "## Where reports agree" in final.digest.markdown
        calls = len(stub.requests)
        assert c.batches.create() is None  # nothing new
        third = c.ingest.ingest_text(report(3), DocumentMeta(title="R3"), "k3").document
        job2 = c.batches.create()
        assert job2 is not None and [i.document_id for i in job2.items] == [third.id]
        c.batches.run(job2.id)
        assert len(stub.requests) == calls + 2  # one summary, one digest


def test_failed_item_is_isolated_and_recorded(tmp_path: Path) -> None:
    with StubServer([reply]) as stub:
        c = _container(tmp_path, stub)
        good = c.ingest.ingest_text(report(1), DocumentMeta(), "a").document
        bad = c.ingest.ingest_text(report(2, "POISON pill."), DocumentMeta(), "b").document
        job = c.batches.create()
        assert job is not None
        final = c.batches.run(job.id)
    states = {i.document_id: i for i in final.items}
    assert final.state == "completed_with_failures" and final.done == 1 and final.failed == 1
    assert states[good.id].state == "done"
    assert states[bad.id].state == "failed" and "HTTP 400" in (states[bad.id].error or "")
    assert final.digest is not None  # the digest covers what succeeded


def _items_done(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("select count(*) from job_items where state = 'done'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_killed_batch_resumes_without_redoing_work(tmp_path: Path) -> None:
    """A batch in a subprocess is killed after its first item; a restart finishes the rest once."""
    with StubServer([lambda body: reply(body, delay=0.6)]) as stub:
        c = _container(tmp_path, stub)
        docs = [c.ingest.ingest_text(report(i), DocumentMeta(title=f"R{i}"), f"k{i}").document for i in range(4)]
        env = {
            **os.environ,
            "DOSSIER_DATA_DIR": str(tmp_path),
            "DOSSIER_LLM_BASE_URL": stub.base_url,
            "DOSSIER_LLM_MODEL": "stub",
            "DOSSIER_LLM_MAX_ATTEMPTS": "1",
        }
        cmd = [sys.executable, "-m", "service.cli", "summarize", "--new"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        db = tmp_path / "dossier.db"
        deadline = time.monotonic() + 120
        while _items_done(db) < 1:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            assert time.monotonic() < deadline, "first item never completed"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _items_done(db) < 4
        first_done = {d.id: c.jobs.summary(d.id) for d in docs}
        summarised_before = {k: v.created_at for k, v in first_done.items() if v is not None}
        requests_before = len(stub.requests)
        again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "resumed 1 interrupted batch" in again.stdout + again.stderr
    (job,) = c.jobs.recent()
    assert job.state == "completed" and job.done == 4
    for doc_id, created in summarised_before.items():
        summary = c.jobs.summary(doc_id)
        assert summary is not None and summary.created_at == created  # not redone
    summary_calls = [
        r for r in stub.requests[requests_before:] if r["response_format"]["json_schema"]["name"] == "summary"
    ]
    assert len(summary_calls) <= 4 - len(summarised_before)  # the killed item at most once more
    assert {d.id for d in docs} == c.jobs.summarised_ids()


def test_batch_api(tmp_path: Path) -> None:
    with StubServer([reply]) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub")
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            doc = httpx.post(f"{api.url}/v1/documents", json={"text": report(1), "title": "R1"}).json()
            r = httpx.post(f"{api.url}/v1/summaries/batch", json={})
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            deadline = time.monotonic() + 60
            while (job := httpx.get(f"{api.url}/v1/jobs/{job_id}").json())["state"] in ("pending", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert job["state"] == "completed" and job["done"] == 1 and job["items"][0]["state"] == "done"
            summary = httpx.get(f"{api.url}/v1/summaries/{doc['id']}").json()
            assert (
                summary["sentences"][0]["citations"][0]["quote"]
                == report(1)[: summary["sentences"][0]["citations"][0]["end"]]
            )
            again = httpx.post(f"{api.url}/v1/summaries/batch", json={})
            assert again.status_code == 200 and again.json()["job_id"] is None
            assert httpx.get(f"{api.url}/v1/jobs/job_nope").status_code == 404
            assert httpx.get(f"{api.url}/v1/summaries/doc_nope").status_code == 404
            unknown = httpx.post(f"{api.url}/v1/summaries/batch", json={"ids": ["doc_nope"]})
            assert unknown.status_code == 404 and "doc_nope" in unknown.json()["detail"]
            assert [j["id"] for j in httpx.get(f"{api.url}/v1/jobs").json()["items"]] == [job_id]


def echo(body: dict[str, Any]) -> tuple[Any, ...]:
    """Summaries that repeat the report's own sentences; a digest that finds nothing."""
    if body["response_format"]["json_schema"]["name"] == "digest":
        return ("content", json.dumps({"new": [], "agreements": [], "contradictions": []}))
    lines = [ln for ln in body["messages"][-1]["content"].splitlines() if ln.startswith("[")]
    picked = [{"text": ln.split("] ", 1)[1], "sentences": [int(ln[1 : ln.index("]")])]} for ln in lines[:3]]
    return ("content", json.dumps({"sentences": picked}))


def test_digest_adds_disagreements_the_pair_judgement_finds(tmp_path: Path) -> None:
    def relation(body: dict[str, Any]) -> dict[str, float] | None:
        """The model's one-word reply: 'contradict' for the two missile counts, 'unrelated' otherwise."""
        user = body["messages"][-1]["content"]
        if "one word" not in user:
            return None
        clash = "At least 4" in user and "Only 2" in user
        return {"contradict": 0.95, "unrelated": 0.05} if clash else {"unrelated": 0.95, "contradict": 0.05}

    with StubServer([echo]) as stub:
        stub.judge_top = relation
        c = make_container(_judged_settings(tmp_path, stub))
        c.ingest.ingest_text(
            "At least 4 of the new missiles appeared in the Pyongyang parade. Analysts watched. It rained.",
            DocumentMeta(title="Parade"),
            "a",
        )
        c.ingest.ingest_text(
            "Only 2 of the new missiles appeared in the Pyongyang parade, the observatory said. "
            "Footage was reused. Nobody commented.",
            DocumentMeta(title="Count"),
            "b",
        )
        job = c.batches.create()
        assert job is not None
        final = c.batches.run(job.id)
    assert final.digest is not None
    (point,) = [p for p in final.digest.points if p.kind == "contradiction"]
    assert point.detected_by == "judge" and point.confidence is not None and point.confidence > 0.9
    assert "At least 4" in point.text and "Only 2" in point.text and len(point.document_ids) == 2
    assert "judged to contradict: P 0.9" in final.digest.markdown
    assert (
        "Possible disagreements to check:\n- [1] vs [4]: P(contradict) 0.9"
        in stub.requests[-1]["messages"][-1]["content"]
    )
    assert any("one word" in j["messages"][-1]["content"] for j in stub.judged)


def test_contradiction_citing_the_same_statement_twice_is_rejected(tmp_path: Path) -> None:
    same = json.dumps(
        {
            "new": [],
            "agreements": [],
            "contradictions": [{"text": "Iran denied the panel's findings.", "sentences": [1, 3]}],
        }
    )

    def script(body: dict[str, Any]) -> tuple[Any, ...]:
        return ("content", same) if body["response_format"]["json_schema"]["name"] == "digest" else reply(body)

    with StubServer([script]) as stub:
        c = _container(tmp_path, stub)
        for i in range(2):
            c.ingest.ingest_text(report(i), DocumentMeta(title=f"R{i}"), f"k{i}")
        job = c.batches.create()
        assert job is not None
        final = c.batches.run(job.id)
    assert final.digest is not None
    assert not [p for p in final.digest.points if p.kind == "contradiction"]
    assert "say the same thing" in final.digest.rejected[0].reason


def test_each_summary_sentence_carries_the_judged_probability_that_its_citations_state_it(tmp_path: Path) -> None:
    """The judgement of a fact's corroboration, asked of each kept sentence against the report sentences it cites;
    an endpoint without log-probabilities leaves `confidence` null after one try and still serves the summary."""

    def relation(body: dict[str, Any]) -> dict[str, float] | None:
        user = body["messages"][-1]["content"]
        if "one word" not in user:
            return None
        if 'B: "Iran denied the panel\'s findings."' in user and "A: \"Iran denied the panel's findings in" in user:
            return {"agree": 0.95, "unrelated": 0.03, "contradict": 0.02}
        return {"unrelated": 0.9, "agree": 0.05, "contradict": 0.05}

    with StubServer([reply]) as stub:
        c = make_container(_judged_settings(tmp_path, stub, summary_confidence=True))
        stub.judge_top = relation
        doc = c.ingest.ingest_text(report(1), DocumentMeta(title="R1"), "k1").document
        summary = c.summarizer.summarize(doc)
        scores = {s.text: s.confidence for s in summary.sentences}
        assert set(scores) == {"Iran denied the panel's findings.", "The panel counted launchers."}
        assert scores["Iran denied the panel's findings."] > 0.5 > scores["The panel counted launchers."]  # type: ignore[operator]
        assert summary.meta.calibrator == "agree_calibrator/v1" and summary.meta.usage.calls == 1 + 2 * 2
        asked = len(stub.judged)
        stub.logprobs = False
        other = c.ingest.ingest_text(report(2), DocumentMeta(title="R2"), "k2").document
        blind = c.summarizer.summarize(other)
        assert [s.confidence for s in blind.sentences] == [None, None] and len(blind.sentences) == 2
        assert len(stub.judged) == asked + 2  # the first sentence's two questions; the second is not asked


def test_a_map_reduce_summary_is_scored_against_report_sentences_and_an_odd_reply_stops_nothing(tmp_path: Path) -> None:
    """A report longer than one window: its combined sentences cite report sentences (carried through the map
    step), and those are what the judge sees. A reply naming none of the relations leaves that sentence without a
    confidence, but the endpoint does give log-probabilities, so the next sentence is still asked."""
    seen: list[str] = []

    def relation(body: dict[str, Any]) -> dict[str, float] | None:
        user = body["messages"][-1]["content"]
        if "one word" not in user:
            return None
        seen.append(user)
        if 'A: "Iran denied the panel\'s findings in report 3."' in user:
            return {"agree": 0.95, "unrelated": 0.03, "contradict": 0.02}
        return {"perhaps": 0.99}  # none of agree / contradict / unrelated

    with StubServer([reply]) as stub:
        settings = _judged_settings(tmp_path, stub, summary_confidence=True, summary_window_chars=50)
        c = make_container(settings)
        stub.judge_top = relation
        doc = c.ingest.ingest_text(report(3), DocumentMeta(title="R3"), "k3").document
        summary = c.summarizer.summarize(doc)
        assert summary.map_windows == 2
        [kept] = summary.sentences
        assert (
            kept.text == "Iran denied the panel's findings." and kept.confidence is not None and kept.confidence > 0.5
        )
        assert [cit.quote for cit in kept.citations] == ["Iran denied the panel's findings in report 3."]
        odd = c.ingest.ingest_text(report(4), DocumentMeta(title="R4"), "k4").document
        c2 = make_container(settings.model_copy(update={"summary_window_chars": 4000}))
        stub.judge_top = relation
        two = c2.summarizer.summarize(odd)
        assert [s.confidence for s in two.sentences] == [None, None] and len(seen) == 1 + 2  # both sentences asked
        assert two.meta.calibrator is None  # it scored nothing
