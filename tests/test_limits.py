"""Bounded consumption over real HTTP, against an OpenAI-compatible stub on loopback: a full model queue answers
429 with Retry-After (never 5xx, never a pile-up), the per-key rate limit, the time budget, and the extraction
of a long report as a job (202 + Location)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from tests.conftest import LiveServer, make_settings
from tests.stub_openai import StubServer
from tests.test_extract import OUTPUT, REPORT

QA = json.dumps({"sentences": [{"text": "Iran denied the report.", "passages": [1]}]})
SHORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."


def _held(release: threading.Event, entered: threading.Semaphore, text: str = QA) -> object:
    """A model call that holds until the test releases it: how long it lasts is the test's choice, not a guess."""

    def step(body: dict[str, object]) -> tuple[str, float, str]:
        entered.release()
        assert release.wait(60), "the test never released the model"
        return ("sleep", 0, text)

    return step


def _wait_until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60  # a bound against hanging, not a measured duration
    while not done():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_full_model_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    release, entered = threading.Event(), threading.Semaphore(0)
    with StubServer([_held(release, entered)]) as stub:
        settings = make_settings(
            tmp_path, llm_base_url=stub.base_url, llm_model="stub", min_similarity=0.0, model_queue_depth=2
        )
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": SHORT})
            results: list[httpx.Response] = []
            lock = threading.Lock()

            def ask() -> None:
                r = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny the report?"}, timeout=90)
                with lock:
                    results.append(r)

            threads = [threading.Thread(target=ask) for _ in range(8)]
            for t in threads:
                t.start()
            _wait_until("six asks refused while two hold the model", lambda: len(results) == 6)
            health = httpx.get(f"{api.url}/healthz", timeout=5)
            release.set()
            for t in threads:
                t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 2 and codes.count(429) == 6, codes
    assert health.status_code == 200
    for r in results:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1 and "queue is full" in r.json()["detail"]
    assert len(stub.requests) == 2  # refused requests never reached the model


def test_rate_limit_per_key(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path, rate_limit="3/minute"), start_llm=False, real_store=False) as api:
        token_a = api.container.access.create("reader")[1]
        token_b = api.container.access.create("reader")[1]
        first = [httpx.get(f"{api.url}/v1/documents", headers={"authorization": f"Bearer {token_a}"}) for _ in range(4)]
        other = httpx.get(f"{api.url}/v1/documents", headers={"authorization": f"Bearer {token_b}"})
    assert [r.status_code for r in first] == [200, 200, 200, 429]
    assert 1 <= int(first[-1].headers["retry-after"]) <= 60 and "rate limit" in first[-1].json()["detail"]
    assert other.status_code == 200  # another key has its own budget


def _budgeted(tmp: Path, stub: StubServer, **extra: Any) -> Settings:
    """Settings against `stub` with a time budget of half a second."""
    return make_settings(
        tmp, llm_base_url=stub.base_url, llm_model="stub", min_similarity=0.0, request_budget_s=0.5, **extra
    )


def test_time_budget_gives_504_and_keeps_the_slot_until_the_work_ends(tmp_path: Path) -> None:
    release, entered = threading.Event(), threading.Semaphore(0)
    with StubServer([_held(release, entered)]) as stub:
        settings = _budgeted(tmp_path, stub, model_queue_depth=1)
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": SHORT})
            r = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny the report?"}, timeout=60)
            assert r.status_code == 504 and r.json()["code"] == "request_timeout", r.text
            assert entered.acquire(timeout=5)  # the model call is under way, held by the stub
            busy = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny it?"}, timeout=60)
            assert busy.status_code == 429  # the timed-out work still holds the only place in the queue
            assert api.app.state.limits.model.inside == 1
            release.set()
            _wait_until("the timed-out work gave its place back", lambda: api.app.state.limits.model.inside == 0)


def test_an_ask_whose_budget_runs_out_while_waiting_for_the_model_gives_up(tmp_path: Path) -> None:
    with StubServer([("content", QA)]) as stub:
        settings = _budgeted(tmp_path, stub, llm_concurrency=1)
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": SHORT})
            with api.container.turns.turn():  # another request holds the model
                r = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny the report?"}, timeout=60)
                assert r.status_code == 504 and "waiting" in r.json()["detail"], r.text
                _wait_until("the waiting ask gave its place back", lambda: api.app.state.limits.model.inside == 0)
            assert stub.requests == [] and stub.judged == []  # it never reached the model
            after = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny the report?"}, timeout=60)
            assert after.status_code == 200 and stub.requests, after.text


def test_question_and_upload_bounds(api: LiveServer) -> None:
    long_q = httpx.post(f"{api.url}/v1/ask", json={"question": "why " * 600})
    assert long_q.status_code == 422 and "question" in long_q.json()["detail"]
    limit = api.container.settings.max_upload_bytes
    big = httpx.post(f"{api.url}/v1/documents", json={"text": "a" * (limit + 10)})
    assert big.status_code == 413 and str(limit) in big.json()["detail"]


def test_long_report_is_extracted_as_a_job(tmp_path: Path) -> None:
    with StubServer([("sleep", 0.5, json.dumps(OUTPUT))]) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub", sync_extract_max_chars=50)
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            doc_id = httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "T"}).json()["id"]
            url = f"{api.url}/v1/documents/{doc_id}/extractions"
            first, again = httpx.post(url, json={}), httpx.post(url, json={})  # a duplicate while it runs
            assert first.status_code == 202 and again.status_code == 202, first.text
            job_id = first.json()["id"]
            assert first.headers["location"] == f"/v1/jobs/{job_id}" and again.json()["id"] == job_id
            deadline = time.monotonic() + 30
            while (job := httpx.get(f"{api.url}/v1/jobs/{job_id}").json())["state"] in ("pending", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert job["state"] == "completed" and job["kind"] == "extraction", job
            (stored,) = httpx.get(url).json()["items"]
            assert stored["facts"]["entities"] and stored["document_id"] == doc_id
            cached = httpx.post(url, json={})
            assert cached.status_code == 200 and cached.json()["cached"] is True
            # the extraction job is not a summary: the report is still new to a summary batch
            assert [d.id for d in api.container.batches.select()[1]] == [doc_id]
    assert len(stub.requests) == 1
