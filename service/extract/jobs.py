"""The extraction of a long report as a persisted job: the request returns 202 at once, the client polls.

A long report takes minutes on the embedded model, longer than many HTTP clients wait. Its extraction runs in the
app's job thread as a one-item job in the same job store as summary batches (so `GET /v1/jobs/{id}` shows it, and
a restarted replica resumes it). The result is stored like any extraction: `GET /v1/documents/{id}/extractions`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

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

    def __init__(self, jobs: JobStore, extract: ExtractService) -> None:
        self._jobs = jobs
        self._extract = extract
        self._lock = threading.Lock()

    @staticmethod
    def mode(schema: FactSchema) -> str:
        return f"extract:{schema.ref}"[:200]

    def create(self, doc: Document, schema: FactSchema) -> tuple[Job, bool]:
        """The job extracting `schema` from `doc`, and whether to start it: True for a new job, and for one left
        pending (its runner found no model); False while one is running."""
        mode = self.mode(schema)
        with self._lock:
            existing = self._jobs.active(mode, doc.id)
            if existing is None:
                job_id = "job_" + uuid.uuid4().hex[:16]
                self._jobs.create(job_id, mode, [(doc.id, doc.title)], dt.datetime.now(dt.UTC), doc.collection,
                                  kind="extraction", params=schema.model_dump_json())  # fmt: skip
        job = self._jobs.get(existing or job_id)
        assert job is not None
        return job, existing is None or job.state == "pending"

    def run(self, job_id: str) -> Job:
        """Run (or resume) an extraction job. Without the model, the job stays pending for the next resume."""
        job = self._jobs.get(job_id)
        if job is None or job.kind != "extraction" or job.params is None:
            raise NotFound(f"extraction job {job_id!r} does not exist")
        if job.state.startswith("completed"):
            return job  # a duplicate start
        self._jobs.claim(job_id)
        self._jobs.reset_running(job_id)
        self._jobs.set_state(job_id, "running")
        (item,) = job.items
        self._jobs.mark_item(job_id, item.document_id, "running")
        t0 = time.monotonic()
        state = "completed"
        try:
            self._extract.extract(item.document_id, FactSchema.model_validate_json(job.params), refresh=True)
            self._jobs.mark_item(job_id, item.document_id, "done", seconds=round(time.monotonic() - t0, 3))
        except ModelUnreachable as exc:
            self._jobs.mark_item(job_id, item.document_id, "pending", error=f"waiting for the model: {exc.message}")
            self._jobs.set_state(job_id, "pending")
            state = "pending"
        except Exception as exc:
            log.warning("extraction job %s failed: %s", job_id, exc)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._jobs.mark_item(job_id, item.document_id, "failed", error=reason,
                                 seconds=round(time.monotonic() - t0, 3))  # fmt: skip
            state = "completed_with_failures"
        if state != "pending":
            self._jobs.set_state(job_id, state, dt.datetime.now(dt.UTC))
        final = self._jobs.get(job_id)
        assert final is not None
        return final
