"""Structured model output: JSON schema in, validated object out, bounded re-asks on failure."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from service.domain.errors import ModelOutputInvalid
from service.domain.models import RunMeta, Usage
from service.domain.ports import ChatModel, PromptTemplate

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class RunTimer:
    """The one bookkeeping of RunMeta: started when a result starts, each model call's usage and attempts added,
    the latency stamped when it is done."""

    def __init__(self, prompt: PromptTemplate, model: str, settings_hash: str, calibrator: str | None = None) -> None:
        self._t0 = time.monotonic()
        self.meta = RunMeta(
            prompt_id=prompt.id,
            prompt_version=prompt.version,
            model=model,
            settings_hash=settings_hash,
            calibrator=calibrator,
        )

    def record(self, usage: Usage, attempts: int, model: str) -> None:
        self.meta.usage = self.meta.usage.add(usage)
        self.meta.attempts += attempts
        self.meta.model = model

    def done(self) -> RunMeta:
        self.meta.latency_s = round(time.monotonic() - self._t0, 3)
        return self.meta


@dataclass
class Structured(Generic[T]):
    """A validated model output, the text it was parsed from, and what it cost."""

    value: T
    usage: Usage
    attempts: int
    model: str
    text: str = ""


def strip_fences(content: str) -> str:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("{") :] if "{" in text else text
    return text


def ask_json(
    chat: ChatModel,
    messages: Sequence[dict[str, str]],
    schema: dict[str, Any],
    parse: Callable[[str], T],
    *,
    max_tokens: int,
    schema_name: str,
    reasks: int = 1,
    on_text: Callable[[str], None] | None = None,
) -> Structured[T]:
    """Call the model with `schema`; `parse` raises ValueError on bad output, which is re-asked with the error.
    `on_text` sees each attempt's text as it streams (see `ChatModel.chat`); an attempt starts with ""."""
    convo = list(messages)
    usage = Usage()
    attempts = 0
    last_error = ""
    for _ in range(reasks + 1):
        result = chat.chat(convo, json_schema=schema, schema_name=schema_name, max_tokens=max_tokens, on_text=on_text)
        usage = usage.add(result.usage)
        attempts += result.attempts
        try:
            return Structured(parse(strip_fences(result.content)), usage, attempts, result.model, result.content)
        except ValueError as exc:  # includes json.JSONDecodeError and pydantic.ValidationError
            last_error = str(exc).splitlines()[0] if isinstance(exc, json.JSONDecodeError) else str(exc)
            convo = [
                *messages,
                {"role": "assistant", "content": result.content[:2000]},
                {
                    "role": "user",
                    "content": "Your reply did not match the required JSON schema. Error:\n"
                    f"{last_error[:800]}\nReply again with only valid JSON matching the schema.",
                },
            ]
    raise ModelOutputInvalid(f"model output failed validation after {reasks + 1} tries: {last_error[:300]}", usage)


def ask_structured(
    chat: ChatModel,
    messages: Sequence[dict[str, str]],
    model_cls: type[M],
    *,
    max_tokens: int,
    schema_name: str,
    reasks: int = 1,
    on_text: Callable[[str], None] | None = None,
) -> Structured[M]:
    """`ask_json` with a Pydantic model as schema and validator."""

    def parse(text: str) -> M:
        try:
            return model_cls.model_validate_json(text)
        except ValidationError as exc:
            raise ValueError(str(exc)) from exc

    return ask_json(
        chat,
        messages,
        model_cls.model_json_schema(),
        parse,
        max_tokens=max_tokens,
        schema_name=schema_name,
        reasks=reasks,
        on_text=on_text,
    )
