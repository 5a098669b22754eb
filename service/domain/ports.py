"""Ports: the interfaces services depend on. Adapters implement them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field

from service.domain.access import ApiKey, Principal
from service.domain.facts import Extraction
from service.domain.models import ChatResult, Document, Passage, RetrievalFilter, SaveOutcome
from service.domain.summaries import Digest, Job, JobKind, Summary


class ChatModel(Protocol):
    """An OpenAI-compatible chat endpoint with transport-level retries."""

    @property
    def model_name(self) -> str:
        """The model identifier sent with each request."""
        ...

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
        """Return the completion's text. Raises ModelUnavailable / ModelRequestRejected.

        With `on_text`, the completion is streamed and `on_text` is called with the whole text so far each time
        it grows; a retry that restarts the completion starts the text again from the beginning. With
        `top_logprobs`, the result carries that many alternatives per token when the endpoint returns them (None
        when it does not: callers must work without)."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors. `name` is stored with the collection."""

    @property
    def name(self) -> str:
        """A stable identifier of the embedding model."""
        ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages for storage."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embed a question for search."""
        ...


class PassageIndex(Protocol):
    """Vector store of passages (one per sentence)."""

    def upsert(self, passages: Sequence[Passage], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert or replace passages with their embeddings."""
        ...

    def delete_document(self, document_id: str) -> None:
        """Remove every passage of a document."""
        ...

    def search(self, vector: Sequence[float], k: int, flt: RetrievalFilter | None) -> list[tuple[Passage, float]]:
        """Nearest passages with a similarity in [0, 1] (higher is closer)."""
        ...

    def all_passages(self) -> list[Passage]:
        """Every stored passage (reconciliation at startup)."""
        ...

    def count(self) -> int:
        """Number of stored passages."""
        ...


class LexicalIndex(Protocol):
    """The lexical (BM25-style) index of passages, in a real search engine, written one document at a time."""

    def upsert(self, passages: Sequence[Passage]) -> None:
        """Insert or replace passages (by id)."""
        ...

    def delete_document(self, document_id: str) -> None:
        """Remove every passage of a document."""
        ...

    def search(self, query: str, n: int, flt: RetrievalFilter | None) -> list[Passage]:
        """The `n` best passages for the query text, best first, within the filter: the engine's own tokenizer,
        stemmer and ranking decide (no word list of Dossier's)."""
        ...

    def counts(self) -> dict[str, int]:
        """Passages per document (reconciliation at startup)."""
        ...


class DocumentRepository(Protocol):
    """Stores documents' verbatim text and metadata."""

    def get(self, document_id: str) -> Document | None:
        """The document, or None."""
        ...

    def list(
        self,
        collections: list[str] | None = None,
        *,
        limit: int | None = None,
        after: tuple[dt.datetime, str] | None = None,
        search: str | None = None,
    ) -> list[Document]:
        """The documents of `collections` (None: all), newest first (then by id); at most `limit`, those after
        the (created_at, id) position `after`; with `search`, only those whose title or source contains it."""
        ...

    def ids(self, collections: Sequence[str] | None = None) -> set[str]:
        """Ids of the stored documents of `collections` (None: all)."""
        ...

    def existing(self, document_ids: Sequence[str]) -> set[str]:
        """Which of `document_ids` are stored (one query over those ids, whatever the corpus size)."""
        ...

    def collections(self) -> Sequence[str]:
        """The names of the collections that hold at least one document, sorted."""
        ...

    def save(self, document: Document) -> SaveOutcome:
        """Store a document unless one with its id exists, and make it the one live document of its source key,
        removing whatever that key pointed to, atomically and safely under concurrent saves from any replica."""
        ...

    def delete(self, document_id: str) -> bool:
        """Delete a document; False when it did not exist."""
        ...


SENTENCE_JUDGE_FIELDS = frozenset({"source", "question", "answer"})  # what a judge asked alone is filled with


class Judge(BaseModel):
    """A yes/no question asked on a prompt's own prefix, answered with one token whose probability is read.

    `after_answer`: asked as a new turn after the model's answer (e.g. "is your answer stated by the sentences it
    cites?"); otherwise in place of the reply instruction, before any answer (e.g. "do these sentences state the
    answer?"). Either way the server reuses the tokens it has already evaluated for the shared prefix."""

    ask: str = Field(min_length=1)
    after_answer: bool = False
    alone: bool = Field(
        default=False,
        description="Asked on a short prompt of its own (`system`, then `ask` filled with one answer sentence as "
        "{answer}, the sentences it cites as {source}, and {question}), once per candidate sentence.",
    )
    system: str = ""


class PromptTemplate(BaseModel):
    """A validated prompt file: `prompts/<task>/v<N>.yaml`."""

    id: str
    version: int
    description: str = ""
    system: str
    user: str
    reply: str = Field(default="", description="The reply instruction appended to `user` for the answer itself.")
    judges: dict[str, Judge] = Field(default_factory=dict)
    variables: list[str] = Field(description="The placeholders `system` and `user` use, declared beside them.")
    max_tokens: int = 512

    @property
    def ref(self) -> str:
        return f"{self.id}/v{self.version}"

    def render(self, **values: str) -> list[dict[str, str]]:
        """Fill both templates. Static text goes first so servers can reuse the cached prefix."""
        return self._messages(self.reply, values)

    def judge_names(self, *, alone: bool) -> list[str]:
        """The judges asked alone (per answer sentence), or those asked on the answer prompt's prefix."""
        return [name for name, j in self.judges.items() if j.alone == alone]

    def judge(self, name: str, answer: str | None = None, **values: str) -> list[dict[str, str]]:
        """The messages of judge `name`: the answer prompt's own prefix, then its question (after `answer`, the
        model's reply to `render(**values)`, when the judge follows the answer)."""
        judge = self.judges[name]
        if judge.alone:
            ask = judge.ask.format(answer=answer or "", **values).strip()
            return [{"role": "system", "content": judge.system.strip()}, {"role": "user", "content": ask}]
        if not judge.after_answer:
            return self._messages(judge.ask, values)
        return [
            *self.render(**values),
            {"role": "assistant", "content": answer or ""},
            {"role": "user", "content": judge.ask.format(**values).strip()},
        ]

    def _messages(self, tail: str, values: dict[str, str]) -> list[dict[str, str]]:
        user = self.user.format(**values).strip()
        if tail.strip():
            user += "\n\n" + tail.format(**values).strip()
        return [{"role": "system", "content": self.system.format(**values).strip()}, {"role": "user", "content": user}]


class PromptStore(Protocol):
    """Loads versioned prompt files."""

    def get(self, task: str, version: int | None = None) -> PromptTemplate:
        """The given version, or the highest one."""
        ...


class ExtractionStore(Protocol):
    """Stored extraction results. Keys derive from document content, schema, prompt and model."""

    def get(self, key: str) -> Extraction | None:
        """The stored result for `key`, or None."""
        ...

    def save(self, key: str, extraction: Extraction) -> None:
        """Store (or overwrite) a result."""
        ...

    def for_document(self, document_id: str) -> list[Extraction]:
        """Every stored result of a document, newest first."""
        ...

    def all(self, schema_id: str | None = None) -> list[Extraction]:
        """Every stored result, optionally of one schema."""
        ...


class JobStore(Protocol):
    """Persistent batch jobs, items, summaries and the 'new since' watermark."""

    def create(
        self,
        job_id: str,
        mode: str,
        items: list[tuple[str, str]],
        now: dt.datetime,
        collection: str,
        kind: JobKind = "summaries",
        params: str | None = None,
    ) -> None:
        """Create a job of `kind` with its items (document id, title), all pending; `params` is what its runner
        needs (an extraction job's schema, as JSON)."""
        ...

    def get(self, job_id: str) -> Job | None:
        """A job with its items and digest."""
        ...

    def recent(
        self,
        limit: int = 20,
        collections: Sequence[str] | None = None,
        after: tuple[dt.datetime, str] | None = None,
    ) -> list[Job]:
        """Newest jobs first (then by id); those after the (created_at, id) position `after`."""
        ...

    def unfinished(self) -> list[str]:
        """Ids of pending or running jobs whose runner is gone."""
        ...

    def active(self, mode: str, document_id: str) -> str | None:
        """A pending or running job of `mode` over `document_id`, if there is one."""
        ...

    def claim(self, job_id: str) -> bool:
        """Become the job's runner unless a live runner holds it (atomically: of two claimants one wins)."""
        ...

    def beat(self, job_id: str) -> None:
        """Renew this process's lease on a job it runs."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock named `name` held across every process that shares the store, for the length of a block."""
        ...

    def item_state(self, job_id: str, doc_id: str) -> str | None:
        """The state of one item of a job."""
        ...

    def set_state(self, job_id: str, state: str, finished: dt.datetime | None = None) -> None:
        """Set the job's state; a completed job is never reopened."""
        ...

    def set_digest(self, job_id: str, digest: Digest | None, error: str | None) -> None:
        """Store the digest (or why it failed)."""
        ...

    def reset_running(self, job_id: str) -> None:
        """Return items left running by a killed process to pending."""
        ...

    def mark_item(
        self, job_id: str, doc_id: str, state: str, error: str | None = None, seconds: float | None = None
    ) -> None:
        """Set an item's state (and failure reason), unless the item is done already."""
        ...

    def complete_item(self, job_id: str, summary: Summary, seconds: float) -> bool:
        """Store a summary and mark its item done, atomically; False, writing nothing, if it was done already."""
        ...

    def summary(self, document_id: str) -> Summary | None:
        """The stored summary of a document."""
        ...

    def summarised_ids(self) -> set[str]:
        """Documents with a stored summary."""
        ...

    def in_flight_ids(self) -> set[str]:
        """Documents waiting in an unfinished job (never put into a second one)."""
        ...

    def failed_ids(self) -> set[str]:
        """Documents whose item failed in some job."""
        ...

    def watermark(self, collection: str) -> dt.datetime | None:
        """Creation time of the last completed 'new' batch."""
        ...

    def set_watermark(self, collection: str, value: dt.datetime) -> None:
        """Move the watermark."""
        ...


class KeyStore(Protocol):
    """API keys, stored as hashes of their tokens."""

    def add(self, key: ApiKey, token_hash: str) -> None:
        """Store a new key."""
        ...

    def by_hash(self, token_hash: str) -> ApiKey | None:
        """The key whose token hashes to `token_hash` (revoked ones included), or None."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, newest first."""
        ...

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when no unrevoked key has that id."""
        ...

    def active_count(self) -> int:
        """How many keys are not revoked."""
        ...

    def count(self) -> int:
        """How many keys were ever created, revoked ones included."""
        ...


class Authenticator(Protocol):
    """Turns a request's bearer token (or its absence) into the caller's role and collections."""

    def authenticate(self, token: str | None, host: str = "localhost") -> Principal:
        """The caller of a request with `token` sent to `host` (its Host header); raises Unauthenticated for a
        missing, unknown or revoked key."""
        ...


@dataclass(frozen=True)
class JobSteps:
    """A kind of job's work in steps a queue can spread over workers, built by the container from a capability.

    `start` marks the job running and returns its items still to do; `item` does one (True: the model was
    unreachable, try it later); `finish` ends the job once no item is left (False while some are). Every step is
    idempotent: a finished item is skipped, a finished job left as it is, so a step run twice does no work twice.
    `run` does the whole job in this process (the embedded default's runner).
    """

    start: Callable[[str], list[str]]
    item: Callable[[str, str], bool]
    finish: Callable[[str], bool]
    run: Callable[[str], object]


class JobQueue(Protocol):
    """Where persisted jobs run: a thread of this process (embedded default), or workers on any host taking items
    from a Postgres-backed queue."""

    distributed: bool

    def submit(self, job_id: str, kind: JobKind) -> bool:
        """Run (or resume) the job; returns at once. Submitting a job twice does its work once: False when the job
        was under way already (its tasks queued or running), so nothing more was queued. A local runner cannot tell:
        it says True, and a second run finds the job claimed."""
        ...

    def close(self) -> None:
        """Stop taking work (a local runner's queued jobs are dropped; they resume at the next start)."""
        ...
