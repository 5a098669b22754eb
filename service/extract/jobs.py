"""The extraction of a long report as a persisted job: the request returns 202 at once, the client polls.

A long report takes minutes on the embedded model, longer than many HTTP clients wait. Its extraction runs in the
app's job thread as a one-item job in the same job store as summary batches (so `GET /v1/jobs/{id}` shows it, and
a restarted replica resumes it). The result is stored like any extraction: `GET /v1/documents/{id}/extractions`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from service.core.jobs import JobEngine
from service.domain.errors import NotFound
from service.domain.facts import FactSchema
from service.domain.models import Document
from service.domain.ports import JobStore
from service.domain.summaries import Job, JobKind
from service.extract.service import ExtractService


class ExtractionJobs:
    """Creates and runs extraction jobs. One pending or running job per report and schema: a duplicate request
    gets the job already under way."""

    def __init__(self, jobs: JobStore, extract: ExtractService, *, beat_s: float = 60.0) -> None:
        self._jobs = jobs
        self._engine = JobEngine(jobs, _ExtractionWork(jobs, extract), beat_s=beat_s)

    @staticmethod
    def mode(schema: FactSchema) -> str:
        return f"extract:{schema.ref}"[:200]

    def create(self, doc: Document, schema: FactSchema) -> tuple[Job, bool]:
        """The job extracting `schema` from `doc`, and whether to start it: True for a new job, and for one left
        pending (its runner found no model); False while one is running."""
        mode = self.mode(schema)
        with self._jobs.exclusive(f"extract:{doc.id}"):
            existing = self._jobs.active(mode, doc.id)
            if existing is None:
                job_id = "job_" + uuid.uuid4().hex[:16]
                self._jobs.create(
                    job_id,
                    mode,
                    [(doc.id, doc.title)],
                    dt.datetime.now(dt.UTC),
                    doc.collection,
                    kind="extraction",
                    params=schema.model_dump_json(),
                )
        job = self._jobs.get(existing or job_id)
        assert job is not None
        return job, existing is None or job.state == "pending"

    def run(self, job_id: str) -> Job:
        """Run (or resume) an extraction job in this process. Without the model, the job stays pending for the next
        resume; a job another live runner holds is left to it."""
        return self._engine.run(job_id)

    def start(self, job_id: str) -> list[str]:
        """Mark the job running; its item, unless it is done or failed."""
        return self._engine.start(job_id)

    def item(self, job_id: str, doc_id: str) -> bool:
        """Extract the report; True when the model was unreachable (the item stays pending)."""
        return self._engine.item(job_id, doc_id)

    def finish(self, job_id: str) -> bool:
        """Mark the job completed once its item is done or failed; False while it is not."""
        return self._engine.finish(job_id)


class _ExtractionWork:
    """An extraction job's work for the job engine: one report, extracted and stored like any extraction."""

    kind: JobKind = "extraction"
    label = "extraction job"

    def __init__(self, jobs: JobStore, extract: ExtractService) -> None:
        self._jobs = jobs
        self._extract = extract

    def do(self, job_id: str, doc_id: str, seconds: Callable[[], float]) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.params is None:
            raise NotFound(f"extraction job {job_id!r} names no schema")
        self._extract.extract(doc_id, FactSchema.model_validate_json(job.params), refresh=True)
        self._jobs.mark_item(job_id, doc_id, "done", seconds=seconds())

    def wrap_up(self, job: Job) -> None:
        """Nothing beyond the final state: the extraction is stored by the item."""
