"""Chat calls through the `openai` SDK, with tenacity retries (the SDK's own retries are off)."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import openai
from openai import OpenAI
from openai.types import CompletionUsage
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from service.domain.errors import ModelOutputInvalid, ModelRequestRejected, ModelUnavailable, ModelUnreachable
from service.domain.models import ChatResult, Usage

log = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "json_object_schema"]


class IncompleteStream(Exception):
    """A streamed completion that ended without a finish reason: the connection dropped mid-answer."""


def is_retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, cut streams, 429, 5xx and unparseable bodies are retried; other 4xx never are."""
    if isinstance(exc, openai.APIConnectionError | json.JSONDecodeError | IncompleteStream):  # incl. APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """Seconds asked for by a Retry-After (or retry-after-ms) header, if any."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())


class RetryAfterOrJitter:
    """Tenacity wait: honour Retry-After when present (capped), else exponential backoff with jitter."""

    def __init__(self, base: float, cap: float) -> None:
        self.cap = cap
        self.jitter = wait_random_exponential(multiplier=base, max=cap)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc)
        if asked is not None:
            return min(asked, self.cap)
        return float(self.jitter(state))


def _top_logprobs(choice: Any) -> list[dict[str, float]] | None:
    """Per generated token, its alternatives and log-probabilities (OpenAI's `logprobs.content`); None when the
    endpoint sent none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    out: list[dict[str, float]] = []
    for token in content:
        alternatives = {alt.token: float(alt.logprob) for alt in token.top_logprobs or []}
        alternatives.setdefault(token.token, float(token.logprob))
        out.append(alternatives)
    return out


class OpenAIChatModel:
    """ChatModel adapter for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

    def __init__(
        self,
        *,
        base_url: str | Callable[[], str],
        api_key: str,
        model: str,
        timeout_s: float,
        max_attempts: int,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        structured_mode: StructuredMode = "json_schema",
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._model = model
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._wait = RetryAfterOrJitter(backoff_base_s, backoff_max_s)
        self._structured_mode = structured_mode
        self._temperature = temperature
        self._seed = seed
        self._client: OpenAI | None = None
        self._client_url: str | None = None

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def structured_mode(self) -> StructuredMode:
        return self._structured_mode

    def _get_client(self) -> OpenAI:
        """A client for the current base URL, resolved on every attempt: a restarted server may move port."""
        url = self._base_url() if callable(self._base_url) else self._base_url
        client = self._client
        if client is None or self._client_url != url:
            client = OpenAI(base_url=url, api_key=self._api_key, timeout=self._timeout_s, max_retries=0)
            self._client, self._client_url = client, url
        return client

    def _response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        if self._structured_mode == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "output",
        max_tokens: int = 512,
        on_text: Callable[[str], None] | None = None,
        top_logprobs: int | None = None,
    ) -> ChatResult:
        """One completion with bounded retries; see `is_retryable` for what is retried. With `on_text` the
        completion is streamed (usage is asked for in the stream; servers that don't send it report none). With
        `top_logprobs` (non-streamed calls) the token alternatives the endpoint returns are kept."""
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": self._temperature,
        }
        if self._seed is not None:
            kwargs["seed"] = self._seed
        if json_schema is not None:
            kwargs["response_format"] = self._response_format(json_schema, schema_name)
        if top_logprobs is not None and on_text is None:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = top_logprobs
        attempts = 0
        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
            before_sleep=lambda s: log.warning(
                "model call attempt %d failed (%s); retrying",
                s.attempt_number,
                s.outcome.exception() if s.outcome else None,
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if on_text is None:
                        result = self._complete(kwargs, attempts)
                    else:
                        result = self._stream(kwargs, attempts, on_text)
        except openai.APIStatusError as exc:
            if is_retryable(exc):
                raise ModelUnavailable(
                    f"model endpoint failed after {attempts} attempts: HTTP {exc.status_code}"
                ) from exc
            raise ModelRequestRejected(
                f"model endpoint rejected the request: HTTP {exc.status_code}: {exc.message}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise ModelUnreachable(f"model endpoint unreachable after {attempts} attempts: {exc}") from exc
        except IncompleteStream as exc:
            raise ModelUnavailable(f"model endpoint's stream ended early {attempts} times") from exc
        except json.JSONDecodeError as exc:
            raise ModelOutputInvalid(
                f"model endpoint returned a body that is not JSON after {attempts} attempts"
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise ModelOutputInvalid(f"model endpoint returned a malformed response: {exc}") from exc
        except openai.APIError as exc:  # an error event in the middle of a stream
            raise ModelOutputInvalid(f"model endpoint's stream failed: {exc}") from exc
        log.info(
            "model call: model=%s prompt_tokens=%d completion_tokens=%d attempts=%d streamed=%s",
            self._model,
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
            attempts,
            on_text is not None,
        )
        return result

    def _complete(self, kwargs: dict[str, Any], attempts: int) -> ChatResult:
        completion = self._get_client().chat.completions.create(**kwargs)
        choices = getattr(completion, "choices", None)
        if not choices:
            raise ModelOutputInvalid("model endpoint returned no choices")
        usage = Usage(calls=1)
        if completion.usage is not None:
            usage = _usage(completion.usage)
        content = choices[0].message.content or ""
        return ChatResult(
            content=content,
            model=completion.model or self._model,
            usage=usage,
            attempts=attempts,
            top_logprobs=_top_logprobs(choices[0]),
        )

    def _stream(self, kwargs: dict[str, Any], attempts: int, on_text: Callable[[str], None]) -> ChatResult:
        on_text("")  # a retry starts the text again
        stream = self._get_client().chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        usage = Usage(calls=1)
        model = self._model
        finished = False
        with stream:
            for chunk in stream:
                model = chunk.model or model
                finished = finished or any(c.finish_reason for c in chunk.choices)
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                    on_text("".join(parts))
        if not finished:
            raise IncompleteStream(f"the stream ended after {len(parts)} pieces without a finish reason")
        return ChatResult(content="".join(parts), model=model, usage=usage, attempts=attempts)


def _usage(counted: CompletionUsage) -> Usage:
    """One call's usage as the endpoint counted it, with the prompt tokens it says it reused when it says so."""
    details = counted.prompt_tokens_details
    cached = details.cached_tokens if details is not None else None
    return Usage(
        prompt_tokens=counted.prompt_tokens,
        completion_tokens=counted.completion_tokens,
        calls=1,
        cached_prompt_tokens=cached,
    )
