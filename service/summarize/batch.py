"""Summary batches: pick what is new, summarise with bounded concurrency, digest; resumable after a crash."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from service.core.jobs import JobEngine, Progress
from service.domain.access import DEFAULT_COLLECTION
from service.domain.errors import InvalidInput, ModelUnreachable, NotFound
from service.domain.models import Document
from service.domain.ports import DocumentRepository, JobStore
from service.domain.summaries import Job, JobKind, Summary
from service.summarize.service import SummarizeService

log = logging.getLogger(__name__)


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
        work = _SummaryWork(repo, jobs, summarizer, model_rounds=model_rounds, model_wait_s=model_wait_s, sleep=sleep)
        self._engine = JobEngine(
            jobs,
            work,
            concurrency=concurrency,
            model_rounds=model_rounds,
            model_wait_s=model_wait_s,
            beat_s=beat_s,
            sleep=sleep,
        )

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
        """Run (or resume) a batch to the end in this process: pending items, then the digest. A batch another
        live runner holds is left to it (returned as it stands)."""
        return self._engine.run(job_id, progress)

    def start(self, job_id: str) -> list[str]:
        """Mark the batch running; the ids of its items not yet done or failed."""
        return self._engine.start(job_id)

    def item(self, job_id: str, doc_id: str) -> bool:
        """Summarise one report of a batch; True when the model was unavailable (try it again later)."""
        return self._engine.item(job_id, doc_id)

    def finish(self, job_id: str) -> bool:
        """Once every item is done or failed: the digest, the watermark and the final state. False while items
        are left."""
        return self._engine.finish(job_id)


class _SummaryWork:
    """A summary batch's work for the job engine: one report's summary per item, a digest to end."""

    kind: JobKind = "summaries"
    label = "summary batch"

    def __init__(
        self,
        repo: DocumentRepository,
        jobs: JobStore,
        summarizer: SummarizeService,
        *,
        model_rounds: int,
        model_wait_s: float,
        sleep: Callable[[float], None],
    ) -> None:
        self._repo = repo
        self._jobs = jobs
        self._summarizer = summarizer
        self._model_rounds = model_rounds
        self._model_wait_s = model_wait_s
        self._sleep = sleep

    def do(self, job_id: str, doc_id: str, seconds: Callable[[], float]) -> None:
        doc = self._repo.get(doc_id)
        if doc is None:
            raise NotFound(f"document {doc_id} was deleted")
        summary: Summary = self._summarizer.summarize(doc)
        if not summary.sentences:
            raise ValueError("no summary sentence survived verification")
        if not self._jobs.complete_item(job_id, summary, seconds()):  # the summary and the item's state together
            log.warning("%s of %s was summarised by another runner; this one is dropped", doc_id, job_id)

    def wrap_up(self, job: Job) -> None:
        summaries = [s for s in (self._jobs.summary(i.document_id) for i in job.items if i.state == "done") if s]
        if summaries and job.digest is None:
            self._digest(job.id, summaries)
        if job.mode == "new":
            self._jobs.set_watermark(job.collection, _aware(job.created_at))

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


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
