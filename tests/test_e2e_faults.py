"""Fault tests on the real llama.cpp server and model: kill it mid-request and mid-batch; Dossier carries on."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import EXAMPLES, LiveServer, make_settings, wait_ready

pytestmark = pytest.mark.e2e

# One question per signal: a question asked before would hit llama.cpp's prompt cache and finish too soon.
QUESTIONS = {
    "SIGKILL": "What did DJI's spokesperson Wen Lu say about sales to North Korea?",
    "SIGSEGV": "What period does the UN panel's report cover?",
}
REPORTS = [EXAMPLES / "01_panel_findings.txt", EXAMPLES / "05_drones_dji.txt"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A Dossier of its own (its model server gets killed), with two example reports ingested."""
    settings = make_settings(tmp_path_factory.mktemp("faults"), local_restart_backoff_s=0.5)
    with LiveServer(settings, start_llm=True) as server:
        wait_ready(server)
        texts = {}
        for path in REPORTS:
            r = httpx.post(f"{server.url}/v1/documents", files={"file": (path.name, path.read_bytes())}, timeout=120)
            assert r.status_code in (200, 201), r.text
            texts[r.json()["id"]] = httpx.get(f"{server.url}/v1/documents/{r.json()['id']}").json()["text"]
        yield server, texts


def _llm(server: LiveServer) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/readyz", timeout=10).json()
    llm: dict[str, Any] = body["llm"]
    assert "pid" not in llm  # /readyz shows no process ids; the test reads the pid from the supervisor
    status = server.container.llm.status()
    assert status is not None
    return {**llm, "pid": status.pid}


def _ready_again(server: LiveServer, restarts: int) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/readyz", timeout=10)
        llm = r.json()["llm"]
        assert llm["state"] != "failed", llm
        if r.status_code == 200 and llm["restarts"] >= restarts:
            status = server.container.llm.status()  # the pid from the supervisor: /readyz shows none
            assert status is not None and "pid" not in llm
            return {**llm, "pid": status.pid}
        time.sleep(0.5)
    raise AssertionError(f"the model server did not come back: {_llm(server)}")


def _assert_verified(answer: dict[str, Any], texts: dict[str, str]) -> None:
    """The model answered after the crash and Dossier decided on that answer: an answer with verbatim citations, or
    (the calibrated confidence under the threshold) the candidate held back, cited verbatim, with the judges'
    probabilities measured. An abstention with no candidate (the model never answered) fails."""
    assert answer["signals"]["p_supported"] is not None, answer
    if answer["abstained"]:
        held = answer["held_back"]
        assert held and held["confidence"] is not None and held["confidence"] < answer["min_confidence"], answer
        citations = [c for s in held["sentences"] for c in s["citations"]]
    else:
        assert answer["confidence"] >= answer["min_confidence"], answer
        citations = answer["citations"]
    assert citations, answer
    for c in citations:
        assert c["quote"] == texts[c["document_id"]][c["start"] : c["end"]]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV], ids=["SIGKILL", "SIGSEGV"])
def test_model_server_dies_during_ask(api: tuple[LiveServer, dict[str, str]], sig: signal.Signals) -> None:
    server, texts = api
    question = QUESTIONS[sig.name]
    before = _llm(server)
    assert before["state"] == "ready" and before["pid"]
    box: dict[str, httpx.Response] = {}
    asking = threading.Thread(
        target=lambda: box.update(r=httpx.post(f"{server.url}/v1/ask", json={"question": question}, timeout=900))
    )
    asking.start()
    time.sleep(1)  # retrieval takes milliseconds; the model is now reading a ~500-token prompt (5 s or more)
    assert asking.is_alive(), "the request finished before the model server could be killed"
    os.kill(before["pid"], sig)
    asking.join(timeout=900)
    r = box["r"]
    # That request gets a clear answer: a retried success, or 503 with Retry-After.
    if r.status_code == 200:
        _assert_verified(r.json(), texts)
    else:
        assert r.status_code == 503 and "Retry-After" in r.headers, (r.status_code, r.text)
        assert r.json()["code"] == "model_unavailable"
    after = _ready_again(server, before["restarts"] + 1)
    assert after["restarts"] == before["restarts"] + 1
    assert after["last_exit"] == f"signal {sig.name} ({sig.value})"
    assert after["pid"] != before["pid"]
    # The next question succeeds with verified citations, with no restart of Dossier itself.
    nxt = httpx.post(f"{server.url}/v1/ask", json={"question": question}, timeout=900)
    assert nxt.status_code == 200, nxt.text
    _assert_verified(nxt.json(), texts)
    assert server.thread.is_alive()


def test_batch_in_flight_completes_after_a_crash(api: tuple[LiveServer, dict[str, str]]) -> None:
    server, texts = api
    before = _llm(server)
    r = httpx.post(f"{server.url}/v1/summaries/batch", json={}, timeout=60)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 300
    while not any(i["state"] == "running" for i in httpx.get(f"{server.url}/v1/jobs/{job_id}").json()["items"]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    os.kill(before["pid"], signal.SIGSEGV)
    deadline = time.monotonic() + 1800
    while (job := httpx.get(f"{server.url}/v1/jobs/{job_id}", timeout=30).json())["state"] in ("pending", "running"):
        assert time.monotonic() < deadline, job
        assert _llm(server)["state"] != "failed"
        time.sleep(2)
    assert job["state"] == "completed", job
    assert job["total"] == len(texts) and all(i["state"] == "done" for i in job["items"]), job["items"]
    after = _ready_again(server, before["restarts"] + 1)
    assert after["last_exit"] == "signal SIGSEGV (11)"
