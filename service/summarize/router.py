"""HTTP routes for summary batches, jobs and summaries."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.domain.access import DEFAULT_COLLECTION, check_collection
from service.domain.errors import NotFound
from service.domain.ports import JobStore
from service.domain.summaries import Job, Summary
from service.http.auth import Reader, Writer
from service.http.deps import Queue, Repo, provide, require_collection, require_document
from service.http.errors import redact
from service.http.pages import Cursor, Limit, Page, keyset_after, keyset_page
from service.summarize.batch import BatchService

log = logging.getLogger(__name__)


class BatchIn(BaseModel):
    """What to summarise: new reports (default), those ingested since a date, or given ids."""

    model_config = ConfigDict(extra="forbid")

    since: dt.date | None = None
    ids: list[str] | None = Field(default=None, max_length=10000)
    collection: str = Field(default=DEFAULT_COLLECTION, description="The collection whose reports to summarise.")

    @field_validator("collection")
    @classmethod
    def _collection(cls, name: str) -> str:
        return check_collection(name)

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[str] | None) -> list[str] | None:
        if ids is None:
            return None
        if not ids:
            raise ValueError("ids is empty; omit it to summarise what is new")
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if repeated:
            raise ValueError(f"ids repeats {', '.join(repeated)}")
        return ids


class BatchOut(BaseModel):
    """The job started, or why none was."""

    job_id: str | None
    total: int
    message: str


batch_service = provide("batches", BatchService)
job_store = provide("jobs", JobStore)  # type: ignore[type-abstract]


Batches = Annotated[BatchService, Depends(batch_service)]
Jobs = Annotated[JobStore, Depends(job_store)]
router = APIRouter(tags=["summaries"])


@router.post(
    "/summaries/batch",
    status_code=202,
    response_model=BatchOut,
    responses={200: {"model": BatchOut, "description": "nothing new"}},
)
def start_batch(batches: Batches, queue: Queue, caller: Writer, body: BatchIn | None = None) -> JSONResponse:
    """Start a summary batch (202 + Location: /v1/jobs/{id}); poll it."""
    body = body or BatchIn()
    job = batches.create(since=body.since, ids=body.ids, collection=require_collection(caller, body.collection))
    if job is None:
        out = BatchOut(job_id=None, total=0, message="nothing new to summarise")
        return JSONResponse(status_code=200, content=out.model_dump())
    queue.submit(job.id, job.kind)
    out = BatchOut(job_id=job.id, total=job.total, message=f"summarising {job.total} report(s)")
    return JSONResponse(status_code=202, content=out.model_dump(), headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/jobs", response_model=Page[Job])
def list_jobs(jobs: Jobs, caller: Reader, limit: Limit = 20, cursor: Cursor = None) -> Page[Job]:
    """Jobs (summary batches and long extractions), newest first, a page at a time."""
    rows = [_public(j) for j in jobs.recent(limit + 1, caller.visible(None), after=keyset_after(cursor))]
    return keyset_page(rows, limit, lambda j: (j.created_at, j.id))


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, jobs: Jobs, caller: Reader) -> Job:
    """State, progress, per-item results and failures of a job."""
    job = jobs.get(job_id)
    if job is None or not caller.can_see(job.collection):
        raise NotFound(f"job {job_id!r} does not exist")
    return _public(job)


def _public(job: Job) -> Job:
    """The job as a client sees it: failure reasons without paths or credentials."""
    items = [i.model_copy(update={"error": redact(i.error)}) if i.error else i for i in job.items]
    error = redact(job.digest_error) if job.digest_error else None
    return job.model_copy(update={"items": items, "digest_error": error})


@router.get("/summaries/{document_id}", response_model=Summary)
def get_summary(document_id: str, jobs: Jobs, repo: Repo, caller: Reader) -> Summary:
    """The stored summary of a report."""
    require_document(repo, document_id, caller)
    summary = jobs.summary(document_id)
    if summary is None:
        raise NotFound(f"document {document_id!r} has no summary yet; POST /v1/summaries/batch")
    return summary
