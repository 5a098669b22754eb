"""Summaries, digests and batch jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.domain.access import DEFAULT_COLLECTION, UtcDateTime
from service.domain.facts import Fact
from service.domain.models import Citation, RejectedSentence, RunMeta

JobState = Literal["pending", "running", "completed", "completed_with_failures"]
ItemState = Literal["pending", "running", "done", "failed"]
JobKind = Literal["summaries", "extraction"]
PointKind = Literal["new", "agreement", "contradiction"]


class SummarySentence(BaseModel):
    """One verified summary sentence and the report sentences it rests on."""

    text: str
    citations: list[Citation]
    confidence: float | None = Field(
        default=None,
        description="Calibrated P(the cited report sentences state this sentence): the pair judgement of "
        "corroboration (`prompts/agree_calibrator`). Null when `DOSSIER_SUMMARY_CONFIDENCE` was off when the summary "
        "was written, or when the endpoint gave no log-probabilities.",
    )


class Summary(BaseModel):
    """A per-report summary: 3-6 verified, cited sentences (two more from its later sentences when they are not
    cited), plus key facts when extracted."""

    document_id: str
    title: str
    sentences: list[SummarySentence]
    rejected: list[RejectedSentence] = Field(default_factory=list)
    key_facts: list[Fact] = Field(default_factory=list)
    map_windows: int = 1
    meta: RunMeta
    created_at: UtcDateTime


class DigestPoint(BaseModel):
    """A cross-report point: what is new, where reports agree, or where they contradict each other."""

    kind: PointKind
    text: str
    document_ids: list[str]
    citations: list[Citation]
    detected_by: Literal["model", "judge", "rule"] = Field(
        default="model",
        description="`model`: written by the digest prompt; `judge`: two reports' sentences the calibrated pair "
        "judgement found contradictory; `rule`: found by the word rule of earlier versions (stored digests only)",
    )
    confidence: float | None = Field(default=None, description="For `judge` points: the calibrated P(contradict)")


class Digest(BaseModel):
    """The digest of one batch."""

    points: list[DigestPoint]
    rejected: list[RejectedSentence] = Field(default_factory=list)
    meta: RunMeta
    markdown: str = ""


class JobItem(BaseModel):
    """One report of a batch."""

    document_id: str
    title: str = ""
    state: ItemState = "pending"
    error: str | None = None
    seconds: float | None = None


class Job(BaseModel):
    """A background job and its progress: a summary batch, or the extraction of one long report."""

    id: str
    kind: JobKind = "summaries"
    state: JobState
    mode: str
    created_at: UtcDateTime
    finished_at: UtcDateTime | None = None
    total: int
    done: int
    failed: int
    items: list[JobItem]
    digest: Digest | None = None
    digest_error: str | None = None
    collection: str = DEFAULT_COLLECTION
    params: str | None = Field(default=None, exclude=True)  # what the runner needs; not shown
