"""Fault injection at the HTTP boundary: an OpenAI-compatible stub on loopback."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from service.adapters.llm.openai_chat import OpenAIChatModel
from service.core.structured import ask_structured
from service.domain.errors import ModelOutputInvalid, ModelRequestRejected, ModelUnavailable
from tests.stub_openai import StubServer

MESSAGES = [{"role": "user", "content": "hi"}]


class Out(BaseModel):
    answer: str


def chat(stub: StubServer, attempts: int = 3, timeout: float = 5.0) -> OpenAIChatModel:
    return OpenAIChatModel(
        base_url=stub.base_url,
        api_key="k",
        model="stub",
        timeout_s=timeout,
        max_attempts=attempts,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )


def test_429_with_retry_after_then_success() -> None:
    with StubServer([("status", 429, {"retry-after": "0"}), ("content", "ok")]) as stub:
        result = chat(stub).chat(MESSAGES)
    assert result.content == "ok"
    assert result.attempts == 2 and len(stub.requests) == 2
    assert result.usage.prompt_tokens == 11 and result.usage.completion_tokens == 7


def test_500_then_success() -> None:
    with StubServer([("status", 500), ("content", "ok")]) as stub:
        assert chat(stub).chat(MESSAGES).content == "ok"
        assert len(stub.requests) == 2


def test_timeout_then_success() -> None:
    with StubServer([("sleep", 2.0, "late"), ("content", "ok")]) as stub:
        result = chat(stub, timeout=0.5).chat(MESSAGES)
    assert result.content == "ok" and result.attempts == 2


def test_timeouts_are_bounded() -> None:
    with StubServer([("sleep", 1.5, "late")]) as stub:
        with pytest.raises(ModelUnavailable, match="3 attempts"):
            chat(stub, attempts=3, timeout=0.3).chat(MESSAGES)
        assert len(stub.requests) == 3


def test_persistent_5xx_is_bounded() -> None:
    with StubServer([("status", 503)]) as stub:
        with pytest.raises(ModelUnavailable, match="HTTP 503"):
            chat(stub, attempts=4).chat(MESSAGES)
        assert len(stub.requests) == 4


@pytest.mark.parametrize("code", [400, 401, 404, 422])
def test_other_4xx_is_never_retried(code: int) -> None:
    with StubServer([("status", code), ("content", "ok")]) as stub:
        with pytest.raises(ModelRequestRejected, match=str(code)):
            chat(stub).chat(MESSAGES)
        assert len(stub.requests) == 1


def test_invalid_json_is_reasked_once_with_the_error() -> None:
    with StubServer([("content", "not json at all"), ("content", json.dumps({"answer": "yes"}))]) as stub:
        out = ask_structured(chat(stub), MESSAGES, Out, max_tokens=50, schema_name="out")
        assert out.value.answer == "yes"
        assert len(stub.requests) == 2
        reask = stub.requests[1]["messages"][-1]["content"]
        assert "did not match the required JSON schema" in reask
        assert out.usage.calls == 2 and out.usage.prompt_tokens == 22
        assert out.usage.cached_prompt_tokens is None  # this endpoint does not say what it reused


def test_reused_prompt_tokens_are_summed_when_the_endpoint_reports_them() -> None:
    with StubServer([("content", "not json at all"), ("content", json.dumps({"answer": "yes"}))]) as stub:
        stub.cached_tokens = 4
        out = ask_structured(chat(stub), MESSAGES, Out, max_tokens=50, schema_name="out")
        assert out.usage.calls == 2 and out.usage.cached_prompt_tokens == 8


def test_schema_violation_twice_fails_clearly() -> None:
    with StubServer([("content", json.dumps({"wrong": 1}))]) as stub:
        with pytest.raises(ModelOutputInvalid, match="answer"):
            ask_structured(chat(stub), MESSAGES, Out, max_tokens=50, schema_name="out")
        assert len(stub.requests) == 2


def test_json_schema_is_sent_as_response_format() -> None:
    with StubServer([("content", json.dumps({"answer": "x"}))]) as stub:
        ask_structured(chat(stub), MESSAGES, Out, max_tokens=50, schema_name="out")
        fmt = stub.requests[0]["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["answer"]
        assert stub.requests[0]["temperature"] == 0.0


def test_garbage_body_is_retried_then_a_clear_error() -> None:
    with StubServer([("garbage",), ("content", "ok")]) as stub:
        assert chat(stub).chat(MESSAGES).content == "ok"
    with StubServer([("garbage",)]) as stub:
        with pytest.raises(ModelOutputInvalid, match="not JSON after 2 attempts"):
            chat(stub, attempts=2).chat(MESSAGES)
        assert len(stub.requests) == 2
