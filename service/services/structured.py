"""Structured model output: JSON schema in, validated Pydantic object out, one re-ask on failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from service.domain.errors import ModelOutputInvalid
from service.domain.models import Usage
from service.domain.ports import ChatModel

T = TypeVar("T", bound=BaseModel)


@dataclass
class Structured(Generic[T]):
    """A validated model output and what it cost."""

    value: T
    usage: Usage
    attempts: int
    model: str


def _parse(content: str, model_cls: type[T]) -> T:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("{") :] if "{" in text else text
    return model_cls.model_validate_json(text)


def ask_structured(
    chat: ChatModel,
    messages: Sequence[dict[str, str]],
    model_cls: type[T],
    *,
    max_tokens: int,
    schema_name: str,
    reasks: int = 1,
) -> Structured[T]:
    """Call the model with `model_cls`'s JSON schema; re-ask with the validation error (bounded)."""
    schema = model_cls.model_json_schema()
    convo = list(messages)
    usage = Usage()
    attempts = 0
    last_error = ""
    for _ in range(reasks + 1):
        result = chat.chat(convo, json_schema=schema, schema_name=schema_name, max_tokens=max_tokens)
        usage = usage.add(result.usage)
        attempts += result.attempts
        try:
            return Structured(_parse(result.content, model_cls), usage, attempts, result.model)
        except (ValidationError, json.JSONDecodeError, ValueError) as exc:
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
    raise ModelOutputInvalid(f"model output failed validation after {reasks + 1} tries: {last_error[:300]}")
