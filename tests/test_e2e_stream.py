"""Streamed answers (SSE) and the OpenAI-compatible endpoint, over real HTTP against the real llama.cpp server and
model, read with real clients: httpx for the event stream, the official `openai` client for chat completions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import LiveServer
from tests.sse import read_events

pytestmark = pytest.mark.e2e

QUESTION = "Which Iranian research center received support from North Korean missile specialists?"
CENTER = "Movahed"


@pytest.fixture(scope="module")
def texts(e2e_api: LiveServer, seeds: list[Path]) -> dict[str, str]:
    out = {}
    for path in seeds:
        r = httpx.post(f"{e2e_api.url}/v1/documents", files={"file": (path.name, path.read_bytes())}, timeout=120)
        assert r.status_code in (200, 201), r.text
        out[r.json()["id"]] = httpx.get(f"{e2e_api.url}/v1/documents/{r.json()['id']}").json()["text"]
    return out


def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what measures the run rather than the answer: latency, token counts (llama.cpp reports
    none for streamed completions), and the judges' probabilities with the confidences made of them. llama.cpp's
    log-probabilities for the same prompt move with what its KV cache held (tokens evaluated one at a time while
    generating, or in a batch): P(yes) of one judgement measured 0.860 on a cold ask and 0.884 on every repeat,
    stream or not. The decision, sentences and citations must match; each side's confidence is checked against
    its threshold instead."""
    meta = {k: v for k, v in answer["meta"].items() if k not in ("latency_s", "usage")}
    measured = ("confidence", "signals")
    sentences = [{k: v for k, v in s.items() if k not in measured} for s in answer["sentences"]]
    for s in answer["sentences"]:
        assert s["confidence"] >= answer["min_confidence"]
    rest = {k: v for k, v in answer.items() if k not in measured and k != "sentences"}
    return {**rest, "sentences": sentences, "meta": {**meta, "calls": answer["meta"]["usage"]["calls"]}}


def test_sse_order_citations_and_final_answer(e2e_api: LiveServer, texts: dict[str, str]) -> None:
    events = list(read_events(e2e_api.url, {"question": QUESTION}))
    names = [e for e, _ in events]
    assert names[0] == "passages" and names[-1] == "answer" and names.count("answer") == 1, names
    assert "error" not in names
    last_sentence = max((i for i, n in enumerate(names) if n in ("sentence", "retracted")), default=0)
    assert all(i > last_sentence for i, n in enumerate(names) if n == "rejected"), names  # rejected come after
    passages = events[0][1]
    assert passages["shown"], passages
    for p in passages["shown"]:
        assert texts[p["document_id"]][p["start"] : p["end"]] == p["text"]
    streamed: dict[int, dict[str, Any]] = {}
    for name, data in events:
        if name == "sentence":
            assert data["index"] == len(streamed)
            streamed[data["index"]] = data["sentence"]
            assert data["sentence"]["citations"], data
            for c in data["sentence"]["citations"]:
                assert c["quote"] == texts[c["document_id"]][c["start"] : c["end"]]
        elif name == "retracted":
            assert data["index"] in streamed
            del streamed[data["index"]]
    final = events[-1][1]["answer"]
    assert not final["abstained"] and CENTER in final["answer"], final
    # what stands of the stream is the answer (a streamed sentence's confidence is scored before the judgements)
    assert [(s["text"], s["citations"]) for s in streamed.values()] == [
        (s["text"], s["citations"]) for s in final["sentences"]
    ]
    plain = httpx.post(f"{e2e_api.url}/v1/ask", json={"question": QUESTION}, timeout=600)
    assert plain.status_code == 200, plain.text
    assert _comparable(final) == _comparable(plain.json())


def test_sse_refusals_are_plain_http_errors(e2e_api: LiveServer) -> None:
    r = httpx.post(f"{e2e_api.url}/v1/ask", json={"question": "  ", "stream": True})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(f"{e2e_api.url}/v1/ask", json={"question": "x?", "stream": True, "document_ids": ["doc_nope"]})
    assert r.status_code == 404


@pytest.fixture(scope="module")
def client(e2e_api: LiveServer) -> OpenAI:
    return OpenAI(
        base_url=f"{e2e_api.url}/v1", api_key="unused-on-a-keyless-loopback-server", max_retries=0, timeout=600
    )


def _check_citations(content: str, citations: list[dict[str, Any]], texts: dict[str, str]) -> None:
    assert citations, content
    for c in citations:
        assert f"[{c['marker']}]" in content
        assert c["quote"] == texts[c["document_id"]][c["start"] : c["end"]]


def test_openai_client_answers_with_citations(client: OpenAI, texts: dict[str, str]) -> None:
    assert "dossier" in [m.id for m in client.models.list()]
    done = client.chat.completions.create(model="dossier", messages=[{"role": "user", "content": QUESTION}])
    content = done.choices[0].message.content or ""
    extra = done.model_extra or {}
    _check_citations(content, extra["citations"], texts)
    assert CENTER in content and not extra["dossier"]["abstained"]

    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    parts, citations = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        citations += (chunk.model_extra or {}).get("citations") or []
    assert "".join(parts) == content  # the same answer, streamed, its citations carried in the chunks
    assert citations == extra["citations"]


def test_openai_follow_up_resolves_the_pronoun(client: OpenAI, texts: dict[str, str]) -> None:
    first = client.chat.completions.create(model="dossier", messages=[{"role": "user", "content": QUESTION}])
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "Where is that research center?"},
    ]
    follow = client.chat.completions.create(model="dossier", messages=history)  # type: ignore[arg-type]
    extra = follow.model_extra or {}
    assert CENTER.lower() in extra["dossier"]["question"].lower(), extra["dossier"]["question"]
    content = follow.choices[0].message.content or ""
    if extra["dossier"]["abstained"]:
        assert content == "The sources do not say."
    else:
        _check_citations(content, extra["citations"], texts)


def test_openai_abstains_and_refuses_unknown_models(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model="dossier", messages=[{"role": "user", "content": "What is the boiling point of liquid nitrogen?"}]
    )
    assert out.choices[0].message.content == "The sources do not say."
    assert (out.model_extra or {})["citations"] == [] and out.model_extra["dossier"]["abstained"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-collection", messages=[{"role": "user", "content": "Why?"}])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="dossier", messages=[{"role": "assistant", "content": "Hello"}])
