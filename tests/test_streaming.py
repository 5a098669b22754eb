"""Streamed answers and the OpenAI-compatible endpoint over real HTTP, with real Chroma and an OpenAI-compatible stub
on loopback as the model: the order of events, a sentence sent while the model is still writing, retraction,
faults in the middle of a stream, and the chat protocol with its citations. (The same against the real model:
tests/test_e2e_stream.py.)"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import LiveServer, judged_prompts, make_settings
from tests.sse import read_events
from tests.stub_openai import StubServer

REPORT = (
    "The Acme Corporation shipped forty centrifuges to Ruritania in March 2020. "
    "The Ruritanian Defence Ministry paid for the shipment through a bank in Zenda. "
    "Inspectors found the centrifuges at a site near Strelsau in June 2021."
)
QUESTION = "What did the Acme Corporation ship to Ruritania, and who paid for the shipment?"
FIRST = "The Acme Corporation shipped forty centrifuges to Ruritania in March 2020."
SECOND = "The Ruritanian Defence Ministry paid for the shipment through a bank in Zenda."


def _numbers(body: dict[str, Any]) -> dict[str, int]:
    """The passage numbers the prompt gives each sentence of the report."""
    prompt = body["messages"][-1]["content"]
    return {text.strip(): int(n) for n, text in re.findall(r"^\[(\d+)\] (.*)$", prompt, flags=re.M)}


def model() -> Any:
    """The stub's answers by schema: both sentences cited by their numbers, and a standalone rewrite."""

    def step(body: dict[str, Any]) -> tuple[str, str]:
        name = (body.get("response_format") or {}).get("json_schema", {}).get("name", "")
        if name == "qa_answer":
            n = _numbers(body)
            out = {"sentences": [{"text": FIRST, "passages": [n[FIRST]]}, {"text": SECOND, "passages": [n[SECOND]]}]}
            return ("content", json.dumps(out))
        if name == "condense":
            return ("content", json.dumps({"question": "Where did inspectors find the centrifuges?"}))
        return ("content", json.dumps({}))

    return step


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LiveServer, StubServer, str]]:
    with StubServer([model()]) as stub:
        settings = make_settings(
            tmp_path,
            llm_base_url=stub.base_url,
            llm_model="stub",
            min_similarity=0.0,
            prompts_dir=judged_prompts(tmp_path),
        )
        with LiveServer(settings, start_llm=False, real_store=True, real_embedder=False) as api:
            r = httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "Acme shipment"}, timeout=60)
            assert r.status_code == 201, r.text
            yield api, stub, r.json()["id"]


def events(url: str, body: dict[str, Any], on_event: Any = None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for item in read_events(url, body, timeout=60):
        out.append(item)
        if on_event:
            on_event(*item)
    return out


def test_a_sentence_is_sent_while_the_model_still_writes(world: tuple[LiveServer, StubServer, str]) -> None:
    api, stub, doc_id = world
    stub.pause_after = '"text": "The Ruritanian'  # the model holds here, in the middle of its second sentence
    seen_while_paused: list[str] = []

    def on_event(name: str, data: Any) -> None:
        # the stub marks itself paused just after its last chunk, and the event can overtake that mark on a busy CPU
        if name == "sentence" and stub.paused.wait(5) and not stub.resume.is_set():
            seen_while_paused.append(data["sentence"]["text"])
            stub.resume.set()

    got = events(api.url, {"question": QUESTION}, on_event)
    assert seen_while_paused == [FIRST]  # verified and sent before the model finished
    assert [n for n, _ in got] == ["passages", "sentence", "sentence", "answer"]
    answer = got[-1][1]["answer"]
    assert [s["text"] for s in answer["sentences"]] == [FIRST, SECOND]
    # a streamed sentence is scored before the judgements (the calibrator's no-log-probabilities model); the
    # answer carries the final confidence of the same sentence and citations
    sent = [g[1]["sentence"] for g in got[1:3]]
    assert [(s["text"], s["citations"]) for s in sent] == [(s["text"], s["citations"]) for s in answer["sentences"]]
    assert all(s["confidence"] >= answer["min_confidence"] for s in sent + answer["sentences"])
    for s in answer["sentences"]:
        for c in s["citations"]:
            assert REPORT[c["start"] : c["end"]] == c["quote"] and c["document_id"] == doc_id
    plain = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, timeout=60).json()
    assert {**plain, "meta": None} == {**answer, "meta": None}


def test_the_judgement_after_the_answer_retracts_what_was_streamed(tmp_path: Path) -> None:
    with StubServer([model()]) as stub:
        stub.judge_yes = 0.02  # the model says its own answer is not stated by what it cites
        settings = make_settings(
            tmp_path,
            llm_base_url=stub.base_url,
            llm_model="stub",
            min_similarity=0.0,
            prompts_dir=judged_prompts(tmp_path),
        )
        with LiveServer(settings, start_llm=False, real_store=True, real_embedder=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "Acme"}, timeout=60)
            got = events(api.url, {"question": QUESTION})
    names = [n for n, _ in got]
    assert names == ["passages", "sentence", "sentence", "retracted", "retracted", "answer"]
    assert {d["index"] for n, d in got if n == "retracted"} == {0, 1}
    answer = got[-1][1]["answer"]
    assert answer["abstained"] and answer["sentences"] == []
    assert all("below the threshold" in d["reason"] for n, d in got if n == "retracted")
    held = answer["held_back"]
    assert held["text"] == f"{FIRST} {SECOND}" and held["confidence"] < 0.5
    assert [s["confidence"] for s in held["sentences"]] == [held["confidence"]] * 2
    assert answer["signals"]["p_supported"] == 0.02


def test_an_endpoint_without_log_probabilities_is_scored_by_the_fallback(tmp_path: Path) -> None:
    with StubServer([model()]) as stub:
        stub.logprobs = False  # the endpoint ignores `logprobs`: the judge replies carry none
        settings = make_settings(
            tmp_path,
            llm_base_url=stub.base_url,
            llm_model="stub",
            min_similarity=0.0,
            prompts_dir=judged_prompts(tmp_path),
        )
        with LiveServer(settings, start_llm=False, real_store=True, real_embedder=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "Acme"}, timeout=60)
            body = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, timeout=60).json()
            strict = httpx.post(
                f"{api.url}/v1/ask", json={"question": QUESTION, "min_confidence": 0.95}, timeout=60
            ).json()
    assert not body["abstained"] and [s["text"] for s in body["sentences"]] == [FIRST, SECOND]
    assert body["confidence"] == 0.8808 and body["signals"]["p_supported"] is None
    assert body["meta"]["calibrator"] == "qa_calibrator/v1" and len(stub.judged) == 2  # one judge per ask, no more
    assert strict["abstained"] and strict["held_back"]["confidence"] == 0.8808 and strict["min_confidence"] == 0.95


def live(got: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The sentences a reader of the stream is left with: those sent and not retracted, in order."""
    shown: dict[int, dict[str, Any]] = {}
    for name, data in got:
        if name == "sentence":
            shown[data["index"]] = data["sentence"]
        elif name == "retracted":
            del shown[data["index"]]
    return list(shown.values())


def test_a_stream_cut_mid_answer_is_retried_and_an_outage_ends_in_an_error_event(tmp_path: Path) -> None:
    answer = model()
    first_call = threading.Event()

    def cut_once(body: dict[str, Any]) -> tuple[str, str]:
        step = answer(body)
        if body.get("stream") and not first_call.is_set():
            first_call.set()
            return ("cut", step[1], 0.75)  # the server goes away in the middle of the second sentence
        return step

    with StubServer([cut_once]) as stub:
        settings = make_settings(
            tmp_path,
            llm_base_url=stub.base_url,
            llm_model="stub",
            min_similarity=0.0,
            llm_backoff_max_s=0.05,
            prompts_dir=judged_prompts(tmp_path),
        )
        with LiveServer(settings, start_llm=False, real_store=True, real_embedder=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "Acme"}, timeout=60)
            got = events(api.url, {"question": QUESTION})
            stub.script = [("status", 500)]
            failed = events(api.url, {"question": QUESTION})
    names = [n for n, _ in got]
    assert names == ["passages", "sentence", "retracted", "sentence", "sentence", "answer"], names
    assert got[2][1]["reason"] == "the model started its answer again"
    final = got[-1][1]["answer"]["sentences"]
    assert [s["text"] for s in final] == [FIRST, SECOND]
    assert [(s["text"], s["citations"]) for s in live(got)] == [(s["text"], s["citations"]) for s in final]
    assert [n for n, _ in failed] == ["passages", "error"]
    problem = failed[-1][1]
    assert problem["status"] == 503 and problem["code"] and "HTTP 500" in problem["detail"]


def test_a_client_that_goes_away_frees_its_place_in_the_queue(world: tuple[LiveServer, StubServer, str]) -> None:
    api, stub, _ = world
    stub.pause_after = '"text": "The Ruritanian'
    queue = api.app.state.limits.model
    with httpx.stream("POST", f"{api.url}/v1/ask", json={"question": QUESTION, "stream": True}, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("event: sentence"):
                break  # the reader leaves in the middle of the answer
    assert queue.inside == 1 and stub.paused.wait(5)
    stub.resume.set()  # the model writes on; the next piece finds the client gone and the call ends
    deadline = time.monotonic() + 10
    while queue.inside and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue.inside == 0
    assert stub.judged == []  # no judgement was asked: the work stopped


def test_an_outage_mid_chat_stream_raises_in_the_openai_client(world: tuple[LiveServer, StubServer, str]) -> None:
    api, stub, _ = world
    stub.script = [("status", 500)]
    client = OpenAI(base_url=f"{api.url}/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="dossier", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    with pytest.raises(openai.APIError, match="HTTP 500"):
        list(stream)


def test_chat_completions_carry_citations_streamed_or_not(world: tuple[LiveServer, StubServer, str]) -> None:
    api, _, doc_id = world
    client = OpenAI(base_url=f"{api.url}/v1", api_key="anything-while-keyless", max_retries=0)
    assert [m.id for m in client.models.list()] == ["dossier", "default"]
    done = client.chat.completions.create(model="default", messages=[{"role": "user", "content": QUESTION}])
    content = done.choices[0].message.content
    extra = done.model_extra or {}
    assert content == f"{FIRST} [1] {SECOND} [2]"
    assert [c["marker"] for c in extra["citations"]] == [1, 2]
    assert all(REPORT[c["start"] : c["end"]] == c["quote"] and c["document_id"] == doc_id for c in extra["citations"])
    chunks = list(
        client.chat.completions.create(model="dossier", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    cited = [x for c in chunks for x in (c.model_extra or {}).get("citations") or []]
    assert text == content and cited == extra["citations"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="elsewhere", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="dossier", messages=[])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="dossier", messages=[{"role": "user", "content": "x" * 600}])


def test_a_follow_up_is_rewritten_to_stand_alone_before_retrieval(
    world: tuple[LiveServer, StubServer, str],
) -> None:
    api, stub, _ = world
    client = OpenAI(base_url=f"{api.url}/v1", api_key="k", max_retries=0)
    history = [
        {"role": "user", "content": "What did the Acme Corporation ship?"},
        {"role": "assistant", "content": f"{FIRST} [1]"},
        {"role": "user", "content": "Where did inspectors find them?"},
    ]
    out = client.chat.completions.create(model="dossier", messages=history)  # type: ignore[arg-type]
    assert (out.model_extra or {})["dossier"]["question"] == "Where did inspectors find the centrifuges?"
    names = [(r.get("response_format") or {}).get("json_schema", {}).get("name") for r in stub.requests]
    assert names[-2:] == ["condense", "qa_answer"]


def test_a_full_queue_refuses_a_stream_before_it_starts(world: tuple[LiveServer, StubServer, str]) -> None:
    api, stub, _ = world
    stub.pause_after = '"text"'
    limits = api.app.state.limits
    limits.model.depth = 1
    holder = threading.Thread(target=events, args=(api.url, {"question": QUESTION}))
    holder.start()
    assert stub.paused.wait(10)
    r = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION, "stream": True}, timeout=10)
    assert r.status_code == 429 and r.headers["retry-after"] and "queue is full" in r.json()["detail"]
    stub.resume.set()
    holder.join(30)


def test_chat_bodies_are_bounded(world: tuple[LiveServer, StubServer, str]) -> None:
    api, stub, _ = world
    before = len(stub.requests)
    huge = {"model": "dossier", "messages": [{"role": "user", "content": "x" * 100}] * 100}
    huge["messages"][0] = {"role": "user", "content": "y" * 1_100_000}
    r = httpx.post(f"{api.url}/v1/chat/completions", json=huge, timeout=30)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    many = {"model": "dossier", "messages": [{"role": "user", "content": "Why?"}] * 101}
    r = httpx.post(f"{api.url}/v1/chat/completions", json=many, timeout=30)
    assert r.status_code == 422 and "messages" in r.text
    assert len(stub.requests) == before  # refused before any model call
