"""The one job engine: persisted jobs of items (states, resume, item progress, leases), whatever the work.

A kind of job (summary batches, extractions of long reports, whatever comes next) gives only its work: what one
item does (`JobWork.do`) and what ends the job once every item is done or failed (`JobWork.wrap_up`). The engine
owns the rest, the same for every kind: claiming the job and renewing the lease while it runs, resetting what a
killed runner left running, marking items running / done / failed with their seconds and reasons, putting an item
whose model was unreachable back to pending (retried after a doubling wait, then left for the next resume), and
the final state. `start`, `item` and `finish` are the same work in steps, for a queue that spreads items over
workers; `run` does a whole job in this process.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from service.core.lease import renewed_lease
from service.domain.errors import ModelUnreachable, NotFound
from service.domain.ports import JobStore
from service.domain.summaries import Job, JobKind

log = logging.getLogger(__name__)
Progress = Callable[[Job], None]


class JobWork(Protocol):
    """What one kind of job does; the engine does the bookkeeping around it."""

    kind: JobKind
    label: str  # how errors name a job of this kind, e.g. "summary batch"

    def do(self, job_id: str, doc_id: str, seconds: Callable[[], float]) -> None:
        """Do one item and record it done (`JobStore.mark_item` or a store method that writes the result with the
        item's state in one transaction; `seconds()` is the time spent so far). Raise `ModelUnreachable` when the
        model could not be reached (the item goes back to pending), anything else to fail the item with a reason."""
        ...

    def wrap_up(self, job: Job) -> None:
        """Once every item is done or failed, before the job is marked completed (may run again after a crash, so
        it must be idempotent)."""
        ...


class JobEngine:
    """Runs jobs of one kind. `model_rounds` retries of items whose model was unreachable, `model_wait_s` apart
    (doubling), before the job is left pending; `concurrency` items at once; the lease renewed every `beat_s`."""

    def __init__(
        self,
        jobs: JobStore,
        work: JobWork,
        *,
        concurrency: int = 1,
        model_rounds: int = 0,
        model_wait_s: float = 10.0,
        beat_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._jobs = jobs
        self._work = work
        self._concurrency = max(1, concurrency)
        self._model_rounds = model_rounds
        self._model_wait_s = model_wait_s
        self._beat_s = beat_s
        self._sleep = sleep

    def job(self, job_id: str) -> Job:
        """The job, if it is one of this engine's kind."""
        job = self._jobs.get(job_id)
        if job is None or job.kind != self._work.kind:
            raise NotFound(f"{self._work.label} {job_id!r} does not exist")
        return job

    def run(self, job_id: str, progress: Progress | None = None) -> Job:
        """Run (or resume) a job to the end in this process. A job another live runner holds is left to it
        (returned as it stands); one whose model stays unreachable is left pending for the next resume."""
        found = self.job(job_id)
        if found.state.startswith("completed") or not self._jobs.claim(job_id):
            return found
        self._jobs.reset_running(job_id)  # ours now: what a killed runner left running starts again
        with renewed_lease(self._jobs, job_id, self._beat_s):
            pending = self.start(job_id)
            for rnd in range(self._model_rounds + 1):
                if rnd:
                    wait = self._model_wait_s * 2 ** (rnd - 1)
                    log.warning("model unavailable for %d item(s) of %s; retrying in %.0fs", len(pending), job_id, wait)
                    self._sleep(wait)
                with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix=self._work.kind) as pool:
                    outcomes = list(pool.map(lambda d: self._item_with_progress(job_id, d, progress), pending))
                pending = [d for d, retry in zip(pending, outcomes, strict=True) if retry]
                if not pending:
                    break
            if pending:  # the model stayed down: nothing failed for good
                self._jobs.set_state(job_id, "pending")
            else:
                self.finish(job_id)
        final = self.job(job_id)
        if progress:
            progress(final)
        return final

    def start(self, job_id: str) -> list[str]:
        """Mark the job running; the ids of its items not yet done or failed."""
        job = self.job(job_id)
        if job.state.startswith("completed"):
            return []
        self._jobs.set_state(job_id, "running")
        return [i.document_id for i in job.items if i.state in ("pending", "running")]

    def item(self, job_id: str, doc_id: str) -> bool:
        """Do one item (skipped when it is done or failed already); True when the model was unreachable and the
        item should be tried again later. Reads the item's state, not the whole job: a queue runs one item at a
        time over a job of thousands."""
        if self._jobs.item_state(job_id, doc_id) not in ("pending", "running"):
            return False
        self._jobs.mark_item(job_id, doc_id, "running")
        t0 = time.monotonic()

        def seconds() -> float:
            return round(time.monotonic() - t0, 3)

        try:
            self._work.do(job_id, doc_id, seconds)
        except ModelUnreachable as exc:  # the model server is down or restarting: not this item's fault
            log.warning("%s of %s waits for the model: %s", doc_id, job_id, exc.message)
            self._jobs.mark_item(job_id, doc_id, "pending", error=f"waiting for the model: {exc.message}")
            return True
        except Exception as exc:  # isolate the failure; the job goes on
            log.warning("%s of %s failed: %s", doc_id, job_id, exc)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._jobs.mark_item(job_id, doc_id, "failed", error=reason, seconds=seconds())
        return False

    def finish(self, job_id: str) -> bool:
        """Once every item is done or failed: the kind's wrap-up, then the final state (once). False while items
        are left."""
        job = self.job(job_id)
        if job.state.startswith("completed"):
            return True
        if job.done + job.failed < job.total:
            return False
        self._work.wrap_up(job)
        state = "completed" if job.failed == 0 else "completed_with_failures"
        self._jobs.set_state(job_id, state, dt.datetime.now(dt.UTC))
        return True

    def _item_with_progress(self, job_id: str, doc_id: str, progress: Progress | None) -> bool:
        retry = self.item(job_id, doc_id)
        self._jobs.beat(job_id)
        if progress:
            progress(self.job(job_id))
        return retry
