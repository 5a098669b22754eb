"""The extraction of a long report as a persisted job: the request returns 202 at once, the client polls.

A long report takes minutes on the embedded model, longer than many HTTP clients wait. Its extraction runs in the
app's job thread as a one-item job in the same job store as summary batches (so `GET /v1/jobs/{id}` shows it, and
a restarted replica resumes it). The result is stored like any extraction: `GET /v1/documents/{id}/extractions`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

from service.core.lease import renewed_lease
from service.domain.errors import ModelUnreachable, NotFound
from service.domain.facts import FactSchema
from service.domain.models import Document
from service.domain.ports import JobStore
from service.domain.summaries import Job
from service.extract.service import ExtractService

log = logging.getLogger(__name__)


class ExtractionJobs:
    """Creates and runs extraction jobs. One pending or running job per report and schema: a duplicate request
    gets the job already under way."""

    def __init__(self, jobs: JobStore, extract: ExtractService, *, beat_s: float = 60.0) -> None:
        self._jobs = jobs
        self._extract = extract
        self._beat_s = beat_s

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
        job = self._job(job_id)
        if job.state.startswith("completed") or not self._jobs.claim(job_id):
            return job  # a duplicate start
        self._jobs.reset_running(job_id)
        with renewed_lease(self._jobs, job_id, self._beat_s):  # one long report can outlast the lease
            for doc_id in self.start(job_id):
                if self.item(job_id, doc_id):
                    self._jobs.set_state(job_id, "pending")
            self.finish(job_id)
        return self._job(job_id)

    def start(self, job_id: str) -> list[str]:
        """Mark the job running; its item, unless it is done or failed."""
        job = self._job(job_id)
        if job.state.startswith("completed"):
            return []
        self._jobs.set_state(job_id, "running")
        return [i.document_id for i in job.items if i.state in ("pending", "running")]

    def item(self, job_id: str, doc_id: str) -> bool:
        """Extract the report; True when the model was unreachable (the item stays pending)."""
        job = self._job(job_id)
        if self._jobs.item_state(job_id, doc_id) not in ("pending", "running") or job.params is None:
            return False
        self._jobs.mark_item(job_id, doc_id, "running")
        t0 = time.monotonic()
        try:
            self._extract.extract(doc_id, FactSchema.model_validate_json(job.params), refresh=True)
            self._jobs.mark_item(job_id, doc_id, "done", seconds=round(time.monotonic() - t0, 3))
        except ModelUnreachable as exc:
            self._jobs.mark_item(job_id, doc_id, "pending", error=f"waiting for the model: {exc.message}")
            return True
        except Exception as exc:
            log.warning("extraction job %s failed: %s", job_id, exc)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._jobs.mark_item(job_id, doc_id, "failed", error=reason, seconds=round(time.monotonic() - t0, 3))
        return False

    def finish(self, job_id: str) -> bool:
        """Mark the job completed once its item is done or failed; False while it is not."""
        job = self._job(job_id)
        if job.state.startswith("completed"):
            return True
        if job.done + job.failed < job.total:
            return False
        state = "completed" if job.failed == 0 else "completed_with_failures"
        self._jobs.set_state(job_id, state, dt.datetime.now(dt.UTC))
        return True

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.kind != "extraction" or job.params is None:
            raise NotFound(f"extraction job {job_id!r} does not exist")
        return job
