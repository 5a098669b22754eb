"""The OpenAI chat-completions protocol over `QAService`: a conversation in, a verified answer out, its citations
kept in an extra field so they survive every OpenAI client.

The answer text carries `[n]` markers after each sentence; `citations[n-1]` is the `Citation` of `/v1/ask` (quote,
document id, offsets) with its marker. A follow-up is first rewritten into a standalone question from the earlier
turns (`prompts/condense`), and that question is what retrieval and the answer see.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.core.structured import ask_structured
from service.domain.errors import InvalidInput, ModelOutputInvalid
from service.domain.models import Answer, Citation
from service.domain.ports import ChatModel, PromptStore

ALL_COLLECTIONS = "dossier"
HISTORY_TURNS = 6
HISTORY_CHARS = 400


class ContentPart(BaseModel):
    """A part of a message's content; only text parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=20_000)


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(default=None, max_length=20_000)

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatRequest(BaseModel):
    """An OpenAI chat-completions request. `model` is a collection's name, or `dossier` for every collection the
    key may see; sampling options are accepted and ignored (answers are verified, not sampled)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=64)
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    min_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Dossier's own: the confidence an answer sentence must reach."
    )

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages[-1].role != "user" or not messages[-1].text.strip():
            raise ValueError("the last message must be a non-empty user message: the question")
        return messages


class ChatCitation(Citation):
    """A citation of the answer, under the `[marker]` the text gives it."""

    marker: int


class DossierExtra(BaseModel):
    """Dossier's own fields of a completion: the standalone question answered, and the whole answer."""

    question: str
    abstained: bool
    answer: Answer


class _Standalone(BaseModel):
    question: str = Field(max_length=1000)


_Out = TypeVar("_Out", bound=BaseModel)


class Conversation:
    """Turns a conversation into the one question to answer."""

    def __init__(self, chat: ChatModel, prompts: PromptStore, *, max_question_chars: int) -> None:
        self._chat = chat
        self._prompts = prompts
        self._max_chars = max_question_chars

    def question(self, messages: list[ChatMessage]) -> str:
        """The last user message, rewritten to stand alone when earlier turns came before it."""
        last = messages[-1].text.strip()
        earlier = [m for m in messages[:-1] if m.role in ("user", "assistant") and m.text.strip()]
        if len(last) > self._max_chars:
            raise InvalidInput(f"the question is {len(last)} characters; the limit is {self._max_chars}")
        if not earlier:
            return last
        history = "\n".join(f"{m.role}: {m.text.strip()[:HISTORY_CHARS]}" for m in earlier[-HISTORY_TURNS:])
        rewritten = self._ask(_Standalone, "condense", history=history, question=last)
        question = rewritten.question if rewritten else ""
        question = " ".join(question.split())
        return question if 0 < len(question) <= self._max_chars else last

    def _ask(self, model: type[_Out], task: str, **values: str) -> _Out | None:
        prompt = self._prompts.get(task)
        try:
            out = ask_structured(
                self._chat, prompt.render(**values), model, max_tokens=prompt.max_tokens, schema_name=task
            )
        except ModelOutputInvalid:
            return None
        return out.value


def marked(answer: Answer) -> tuple[list[str], list[ChatCitation]]:
    """Each answer sentence with its `[n]` markers, and the citations numbered in order of first use."""
    numbers: dict[str, int] = {}
    citations: list[ChatCitation] = []
    parts: list[str] = []
    if answer.abstained:
        return [answer.answer], []
    for s in answer.sentences:
        marks = []
        for c in s.citations:
            if c.passage_id not in numbers:
                numbers[c.passage_id] = len(numbers) + 1
                citations.append(ChatCitation(**c.model_dump(), marker=numbers[c.passage_id]))
            marks.append(f"[{numbers[c.passage_id]}]")
        parts.append(s.text + (" " + "".join(dict.fromkeys(marks)) if marks else ""))
    return parts, citations


def completion(model: str, question: str, answer: Answer) -> dict[str, Any]:
    """The `chat.completion` object of `answer`."""
    parts, citations = marked(answer)
    usage = answer.meta.usage
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": " ".join(parts), "refusal": None},
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
        "citations": [c.model_dump(mode="json") for c in citations],
        "dossier": DossierExtra(question=question, abstained=answer.abstained, answer=answer).model_dump(mode="json"),
    }


def chunks(model: str, question: str, answer: Answer) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of `answer`: the role, one chunk per sentence carrying the citations
    it introduces, and a last chunk with the finish reason and Dossier's fields."""
    parts, citations = marked(answer)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }

    out = [chunk({"role": "assistant", "content": ""})]
    given: set[int] = set()
    for i, text in enumerate(parts):
        new = [c for c in citations if f"[{c.marker}]" in text and c.marker not in given]
        given.update(c.marker for c in new)
        out.append(chunk({"content": (" " if i else "") + text}, citations=[c.model_dump(mode="json") for c in new]))
    extra = DossierExtra(question=question, abstained=answer.abstained, answer=answer).model_dump(mode="json")
    out.append(chunk({}, "stop", citations=[], dossier=extra))
    return out
