"""Domain models shared by services, adapters and the API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.access import DEFAULT_COLLECTION, UtcDateTime


class DocumentMeta(BaseModel):
    """Caller-supplied metadata of a report."""

    title: str | None = None
    source: str | None = None
    url: str | None = None
    published: dt.date | None = None


class Sentence(BaseModel):
    """A sentence of a document, as character offsets into its verbatim text."""

    model_config = ConfigDict(frozen=True)

    index: int
    start: int
    end: int


class Document(BaseModel):
    """A stored report: verbatim text plus metadata. `id` derives from the text."""

    id: str
    source_key: str
    title: str
    source: str | None = None
    url: str | None = None
    published: dt.date | None = None
    text: str
    sentence_count: int
    created_at: UtcDateTime
    collection: str = DEFAULT_COLLECTION


class SaveOutcome(BaseModel):
    """What storing a document did: `unchanged` when its content was already stored (by this or a concurrent
    request), else `created` or `replaced` with the documents its source key pointed to before."""

    status: Literal["created", "replaced", "unchanged"]
    replaced: list[str] = Field(default_factory=list)


class Passage(BaseModel):
    """A retrievable unit: one sentence of a document, with its offsets."""

    id: str
    document_id: str
    index: int
    start: int
    end: int
    text: str
    title: str
    source: str | None = None
    published: dt.date | None = None
    collection: str = DEFAULT_COLLECTION


class ScoredPassage(BaseModel):
    """A passage with its fused retrieval score and the ranks that produced it."""

    passage: Passage
    score: float
    vector_rank: int | None = None
    bm25_rank: int | None = None
    similarity: float | None = None


class RetrievalFilter(BaseModel):
    """Restricts retrieval to some collections, documents, a source, or a published-date range."""

    collections: list[str] | None = Field(
        default=None, description="Search only these collections (those the key may see, if omitted)."
    )
    document_ids: list[str] | None = None
    source: str | None = None
    published_from: dt.date | None = None
    published_to: dt.date | None = None

    def admits(self, passage: Passage) -> bool:
        """True when the passage passes every set condition."""
        if self.collections is not None and passage.collection not in self.collections:
            return False
        if self.document_ids is not None and passage.document_id not in self.document_ids:
            return False
        if self.source is not None and passage.source != self.source:
            return False
        if self.published_from is not None and (passage.published is None or passage.published < self.published_from):
            return False
        return not (
            self.published_to is not None and (passage.published is None or passage.published > self.published_to)
        )


class Usage(BaseModel):
    """Token usage of one or more model calls. `cached_prompt_tokens`: of the prompt tokens, those the endpoint
    says it reused from its cache (`usage.prompt_tokens_details.cached_tokens`: OpenAI, llama.cpp's own server,
    vLLM); None when no call's endpoint said (llama-cpp-python's server does not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_prompt_tokens: int | None = None

    def add(self, other: Usage) -> Usage:
        cached = [c for c in (self.cached_prompt_tokens, other.cached_prompt_tokens) if c is not None]
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            calls=self.calls + other.calls,
            cached_prompt_tokens=sum(cached) if cached else None,
        )


class ChatResult(BaseModel):
    """Raw content of one chat completion, after transport retries. `top_logprobs` (when asked for and the endpoint
    gives them): per generated token, its most likely alternatives and their log-probabilities."""

    content: str
    model: str
    usage: Usage
    attempts: int = 1
    top_logprobs: list[dict[str, float]] | None = None


class RunMeta(BaseModel):
    """What produced a result: prompt, calibrator, model, settings, cost."""

    prompt_id: str
    prompt_version: int
    model: str
    settings_hash: str
    calibrator: str | None = Field(default=None, description="The calibrator artefact (`<id>/v<N>`) that scored it.")
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 0
    latency_s: float = 0.0


class Citation(BaseModel):
    """A verified pointer into a document: `quote == document.text[start:end]`."""

    passage_number: int
    passage_id: str
    document_id: str
    title: str
    start: int
    end: int
    quote: str


class AnswerSentence(BaseModel):
    """One sentence of an answer with the citations that support it, and how likely it is to be right."""

    text: str
    citations: list[Citation]
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Calibrated probability that this sentence is a correct answer, stated by the sentence it cites.",
    )
    citation_repaired: bool = Field(
        default=False, description="The model cited another number; the citation is the shown sentence that holds it."
    )
    signals: dict[str, float | None] = Field(
        default_factory=dict, description="This sentence's measured support (coverage, alignment, similarity)."
    )


class RejectedSentence(BaseModel):
    """A sentence the model wrote that verification dropped, and why."""

    text: str
    cited: list[int]
    reason: str
    confidence: float | None = Field(
        default=None,
        description="What the calibrator gave it (for a sentence a structural check dropped: what it "
        "would have given, for the record and the eval's ablations; it never revives the sentence).",
    )
    signals: dict[str, float | None] = Field(default_factory=dict)


class WithheldPassage(BaseModel):
    """A retrieved passage kept from the model because it reads as an instruction to it (prompt injection)."""

    passage_id: str
    document_id: str
    reason: str


class HeldBack(BaseModel):
    """The best candidate answer that was withheld, and why: what an abstention would have said."""

    text: str
    sentences: list[AnswerSentence]
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reason: str


class Answer(BaseModel):
    """The verified answer to a question, or an explicit abstention."""

    question: str
    answer: str
    abstained: bool
    sentences: list[AnswerSentence]
    citations: list[Citation]
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Calibrated probability that the answer given is right (None: abstained).",
    )
    min_confidence: float | None = Field(default=None, description="The threshold this answer was decided with.")
    held_back: HeldBack | None = Field(default=None, description="With an abstention: the best candidate withheld.")
    signals: dict[str, float | None] = Field(
        default_factory=dict, description="The measured signals the confidence was computed from (None: unavailable)."
    )
    rejected: list[RejectedSentence] = Field(default_factory=list)
    withheld: list[WithheldPassage] = Field(default_factory=list)
    shown: list[str] = Field(
        default_factory=list, description="Ids of the passages shown to the model, numbered from 1 in this order."
    )
    meta: RunMeta
