"""The embedded default's job runner: one background thread of this process, jobs one at a time."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from service.domain.ports import JobSteps
from service.domain.summaries import JobKind

log = logging.getLogger(__name__)


class LocalJobQueue:
    """A `JobQueue` with no service to start. A job runs whole in this process (`JobSteps.run`), holding a lease
    it renews as it works; queued jobs dropped at shutdown are resumed at the next start."""

    distributed = False

    def __init__(self, steps: Mapping[JobKind, JobSteps]) -> None:
        self._steps = steps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")

    def submit(self, job_id: str, kind: JobKind) -> bool:
        self._pool.submit(self._run, job_id, kind)  # a second run of a job under way finds it claimed
        return True

    def _run(self, job_id: str, kind: JobKind) -> None:
        try:
            self._steps[kind].run(job_id)
        except Exception:
            log.exception("job %s stopped", job_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
