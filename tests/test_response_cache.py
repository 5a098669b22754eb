"""The eval response cache: identical requests are answered locally, anything different goes to the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.llm.openai_chat import OpenAIChatModel
from service.adapters.llm.response_cache import CachingChatModel
from service.domain.errors import ModelRequestRejected
from tests.stub_openai import StubServer

MESSAGES = [{"role": "user", "content": "hi"}]


def _model(stub: StubServer) -> OpenAIChatModel:
    return OpenAIChatModel(
        base_url=stub.base_url,
        api_key="k",
        model="stub",
        timeout_s=5,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
    )


def test_identical_requests_hit_the_cache_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "responses.sqlite"
    identity = {"model": "stub", "temperature": 0.0, "seed": 7}
    with StubServer([("content", "first"), ("content", "second")]) as stub:
        cached = CachingChatModel(_model(stub), path, identity)
        assert cached.chat(MESSAGES).content == "first"
        assert cached.chat(MESSAGES).content == "first"
        assert len(stub.requests) == 1 and (cached.hits, cached.misses) == (1, 1)
        cached.close()
        again = CachingChatModel(_model(stub), path, identity)  # a later run, same file
        assert again.chat(MESSAGES).content == "first" and len(stub.requests) == 1
        # different max_tokens, messages or model identity: a miss
        assert again.chat(MESSAGES, max_tokens=7).content == "second"
        other = CachingChatModel(_model(stub), path, {**identity, "seed": 8})
        other.chat(MESSAGES)
        assert len(stub.requests) == 3
        again.close()
        other.close()


def test_failures_are_not_cached(tmp_path: Path) -> None:
    with StubServer([("status", 400), ("content", "ok")]) as stub:
        cached = CachingChatModel(_model(stub), tmp_path / "r.sqlite", {"model": "stub"})
        with pytest.raises(ModelRequestRejected, match="400"):
            cached.chat(MESSAGES)
        assert cached.chat(MESSAGES).content == "ok" and len(stub.requests) == 2
        cached.close()
