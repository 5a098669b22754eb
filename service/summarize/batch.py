"""Summary batches: pick what is new, summarise with bounded concurrency, digest; resumable after a crash."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from service.core.lease import renewed_lease
from service.domain.access import DEFAULT_COLLECTION
from service.domain.errors import InvalidInput, ModelUnreachable, NotFound
from service.domain.models import Document
from service.domain.ports import DocumentRepository, JobStore
from service.domain.summaries import Job, Summary
from service.summarize.service import SummarizeService

log = logging.getLogger(__name__)
Progress = Callable[[Job], None]


class BatchService:
    """Runs summary batches as persisted jobs.

    "New" means ingested after the watermark (the creation time of the last completed `new` batch), or
    failed in an earlier batch, and not yet summarised. Each item is stored with its summary in one
    transaction, so a process killed mid-batch resumes with the items not done and never summarises a
    report twice. The runner renews its lease while it works; a job whose runner is silent past the lease is
    taken over by one claimant only. A failing item records its reason and the batch goes on. An item whose
    model call could not reach the model (its server died and is restarting) is not failed: it goes back to
    pending and is retried after `model_wait_s`, doubling, up to `model_rounds` times; past that the job stays
    pending for the next resume. `start`, `item` and `finish` are the same work in steps, for workers.
    """

    def __init__(
        self,
        repo: DocumentRepository,
        jobs: JobStore,
        summarizer: SummarizeService,
        *,
        concurrency: int,
        model_rounds: int = 4,
        model_wait_s: float = 10.0,
        beat_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repo
        self._jobs = jobs
        self._summarizer = summarizer
        self._concurrency = max(1, concurrency)
        self._model_rounds = model_rounds
        self._model_wait_s = model_wait_s
        self._beat_s = beat_s
        self._sleep = sleep

    def select(
        self, *, since: dt.date | None = None, ids: list[str] | None = None, collection: str = DEFAULT_COLLECTION
    ) -> tuple[str, list[Document]]:
        """The documents of `collection` a batch would cover, and the mode label."""
        docs = self._repo.list([collection])
        if ids:
            known = {d.id: d for d in docs}
            missing = [i for i in ids if i not in known]
            if missing:
                raise NotFound(f"unknown document ids in collection {collection!r}: {', '.join(missing)}")
            return f"ids:{','.join(ids)}", [known[i] for i in ids]
        done = self._jobs.summarised_ids() | self._jobs.in_flight_ids()
        if since is not None:
            cutoff = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
            return f"since:{since}", [d for d in docs if _aware(d.created_at) >= cutoff and d.id not in done]
        mark = self._jobs.watermark(collection)
        failed = self._jobs.failed_ids()
        fresh = [
            d for d in docs if d.id not in done and (mark is None or _aware(d.created_at) > mark or d.id in failed)
        ]
        return "new", sorted(fresh, key=lambda d: (d.created_at, d.id))

    def create(
        self, *, since: dt.date | None = None, ids: list[str] | None = None, collection: str = DEFAULT_COLLECTION
    ) -> Job | None:
        """Create a job over `collection` for what is new (or the given ids / since a date); None when there is
        nothing."""
        if since is not None and ids:
            raise InvalidInput("give either since or ids, not both")
        with self._jobs.exclusive(f"batch:{collection}"):  # two replicas never put one report in two batches
            mode, docs = self.select(since=since, ids=ids, collection=collection)
            if not docs:
                return None
            job_id = "job_" + uuid.uuid4().hex[:16]
            self._jobs.create(job_id, mode, [(d.id, d.title) for d in docs], dt.datetime.now(dt.UTC), collection)
        job = self._jobs.get(job_id)
        assert job is not None
        return job

    def run(self, job_id: str, progress: Progress | None = None) -> Job:
        """Run (or resume) a job to the end in this process: pending items, then the digest. A job another live
        runner holds is left to it (returned as it stands)."""
        found = self._jobs.get(job_id)
        if found is None or found.kind != "summaries":
            raise NotFound(f"summary batch {job_id!r} does not exist")
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
                with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="summarize") as pool:
                    outcomes = list(pool.map(lambda d: self._item_with_progress(job_id, d, progress), pending))
                pending = [d for d, retry in zip(pending, outcomes, strict=True) if retry]
                if not pending:
                    break
            if pending:  # the model stayed down: leave the job for the next resume, nothing failed for good
                self._jobs.set_state(job_id, "pending")
            else:
                self.finish(job_id)
        final = self._jobs.get(job_id)
        assert final is not None
        if progress:
            progress(final)
        return final

    def start(self, job_id: str) -> list[str]:
        """Mark the job running; the ids of its items not yet done or failed."""
        job = self._jobs.get(job_id)
        if job is None or job.kind != "summaries":
            raise NotFound(f"summary batch {job_id!r} does not exist")
        if job.state.startswith("completed"):
            return []
        self._jobs.set_state(job_id, "running")
        return [i.document_id for i in job.items if i.state in ("pending", "running")]

    def finish(self, job_id: str) -> bool:
        """Once every item is done or failed: the digest, the final state and the watermark (once). False while
        items are left."""
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"summary batch {job_id!r} does not exist")
        if job.state.startswith("completed"):
            return True
        if job.done + job.failed < job.total:
            return False
        summaries = [s for s in (self._jobs.summary(i.document_id) for i in job.items if i.state == "done") if s]
        if summaries and job.digest is None:
            self._digest(job_id, summaries)
        state = "completed" if job.failed == 0 else "completed_with_failures"
        self._jobs.set_state(job_id, state, dt.datetime.now(dt.UTC))
        if job.mode == "new":
            self._jobs.set_watermark(job.collection, _aware(job.created_at))
        return True

    def _digest(self, job_id: str, summaries: list[Summary]) -> None:
        for rnd in range(self._model_rounds + 1):
            try:
                self._jobs.set_digest(job_id, self._summarizer.digest(summaries), None)
                return
            except ModelUnreachable as exc:
                if rnd == self._model_rounds:
                    self._jobs.set_digest(job_id, None, f"model unavailable: {exc.message}")
                    return
                self._sleep(self._model_wait_s * 2**rnd)
            except Exception as exc:  # the batch's summaries stand even if the digest fails
                log.exception("digest failed for %s", job_id)
                self._jobs.set_digest(job_id, None, f"{type(exc).__name__}: {exc}")
                return

    def _item_with_progress(self, job_id: str, doc_id: str, progress: Progress | None) -> bool:
        retry = self.item(job_id, doc_id)
        self._jobs.beat(job_id)
        if progress:
            job = self._jobs.get(job_id)
            if job is not None:
                progress(job)
        return retry

    def item(self, job_id: str, doc_id: str) -> bool:
        """Summarise one report of a job (skipped when its item is done or failed already); True when the model
        was unavailable and the item should be tried again later."""
        if self._jobs.item_state(job_id, doc_id) not in ("pending", "running"):
            return False
        retry = False
        self._jobs.mark_item(job_id, doc_id, "running")
        t0 = time.monotonic()
        try:
            doc = self._repo.get(doc_id)
            if doc is None:
                raise NotFound(f"document {doc_id} was deleted")
            summary: Summary = self._summarizer.summarize(doc)
            if not summary.sentences:
                raise ValueError("no summary sentence survived verification")
            if not self._jobs.complete_item(job_id, summary, round(time.monotonic() - t0, 3)):
                log.warning("%s of %s was summarised by another runner; this one is dropped", doc_id, job_id)
        except ModelUnreachable as exc:  # the model server is down or restarting: not this item's fault
            log.warning("summary of %s waits for the model: %s", doc_id, exc.message)
            self._jobs.mark_item(job_id, doc_id, "pending", error=f"waiting for the model: {exc.message}")
            retry = True
        except Exception as exc:  # isolate the failure; the batch goes on
            log.warning("summary of %s failed: %s", doc_id, exc)
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._jobs.mark_item(job_id, doc_id, "failed", error=reason, seconds=round(time.monotonic() - t0, 3))
        return retry


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
