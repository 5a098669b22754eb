"""Jobs spread over workers on any host through procrastinate, a maintained Postgres-backed task queue.

A job becomes one `start` task, which defers an `item` task per report, and a `finish` task after each item.
Workers fetch tasks with `SELECT … FOR UPDATE SKIP LOCKED`, so no two take the same task. Copies of one task (a
resumed job's, a requeued one's) share a procrastinate lock, so they run one after another and each finds the
work of the one before done. Workers write a heartbeat every `heartbeat_s`; a task whose worker has been silent for
`stalled_s` (killed, its host gone) is put back in the queue by whichever worker looks next, so a killed worker
loses at most the item it was doing. The steps are idempotent and a summary is stored in the same transaction that
marks its item done, so a report is summarised exactly once. An item that finds no model waits in the queue, its
retries spaced out, until the model is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import procrastinate
import psycopg
import sqlalchemy.exc
from procrastinate.retry import RetryDecision
from sqlalchemy.engine import make_url

from service.domain.ports import JobSteps
from service.domain.summaries import JobKind

log = logging.getLogger(__name__)


class ModelWait(Exception):
    """An item found no model; procrastinate retries its task later."""


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://…`) as libpq takes it."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"the Postgres queue needs a Postgres database, not {url.get_backend_name()!r}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresJobQueue:
    """The `JobQueue` of a scale-out deployment: the API defers, `dossier worker` processes do the work."""

    distributed = True

    def __init__(
        self,
        database_url: str,
        steps: Mapping[JobKind, JobSteps],
        *,
        model_wait_s: float = 10.0,
        model_wait_max_s: float = 300.0,
    ) -> None:
        self._conninfo = libpq_url(database_url)
        self._steps = steps
        self._opened = False
        self._open_lock = threading.Lock()
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self._conninfo))
        retry = WaitForModel(first_s=model_wait_s, max_s=model_wait_max_s)
        self._start = self.app.task(name="dossier.start", retry=retry)(self._start_job)
        self._item = self.app.task(name="dossier.item", retry=retry)(self._do_item)
        self._finish = self.app.task(name="dossier.finish", retry=retry)(self._finish_job)

    # -- schema ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create procrastinate's tables once (replicas and workers starting together: one does it)."""
        with psycopg.connect(self._conninfo, autocommit=False) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(b"dossier:procrastinate-schema"),))
            row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if row is None or row[0] is None:
                log.info("creating the job queue's tables (procrastinate)")
                conn.execute(self.app.schema_manager.get_schema())
            conn.commit()

    # -- the API side ---------------------------------------------------------------------------
    def submit(self, job_id: str, kind: JobKind) -> bool:
        """Queue the job's start, unless tasks of the job are queued or running already (a resume of a job under
        way queues nothing). Checked and queued under an advisory lock per job, so two resumers queue it once."""
        with self._open_lock:
            if not self._opened:
                self.app.open()
                self._opened = True
        with psycopg.connect(self._conninfo) as conn:  # one transaction: the lock is held until the start is queued
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(f"dossier:job:{job_id}".encode()),))
            if conn.execute(_LIVE_TASKS, (job_id,)).fetchone() is not None:
                return False
            self._defer(self._start, f"start:{job_id}", job_id=job_id, kind=kind)
        return True

    def close(self) -> None:
        if self._opened:
            self.app.close()
            self._opened = False

    # -- the tasks (run by workers) ---------------------------------------------------------------
    def _start_job(self, job_id: str, kind: JobKind) -> None:
        items = self._steps[kind].start(job_id)
        for doc_id in items:
            self._defer(self._item, f"item:{job_id}:{doc_id}", job_id=job_id, kind=kind, doc_id=doc_id)
        if not items:
            self._defer(self._finish, f"finish:{job_id}", job_id=job_id, kind=kind)

    def _do_item(self, job_id: str, kind: JobKind, doc_id: str) -> None:
        if self._steps[kind].item(job_id, doc_id):
            raise ModelWait(f"{doc_id} of {job_id} waits for the model")
        self._defer(self._finish, f"finish:{job_id}", job_id=job_id, kind=kind)

    def _finish_job(self, job_id: str, kind: JobKind) -> None:
        self._steps[kind].finish(job_id)

    def _defer(self, task: procrastinate.tasks.Task[Any, Any, Any], lock: str, **kwargs: Any) -> None:
        """Defer a task under `lock`: copies of one task (a requeued one, a resumed job's) run one after another,
        never together, and each finds the work of the one before done. No queueing lock: a copy queued while the
        first is running must not stop a stalled first from being requeued."""
        task.configure(lock=lock).defer(**kwargs)

    # -- the worker ---------------------------------------------------------------------------------
    def work(
        self,
        *,
        concurrency: int,
        heartbeat_s: float,
        stalled_s: float,
        name: str | None = None,
        resume: Callable[[], int] | None = None,
        resume_every_s: float = 60.0,
    ) -> None:
        """Run a worker until SIGINT/SIGTERM: take tasks, put back those of workers silent for `stalled_s`, and
        every `resume_every_s` call `resume` (queue again the unfinished jobs left with no live task)."""
        asyncio.run(self._work(concurrency, heartbeat_s, stalled_s, name, resume, resume_every_s))

    async def _work(
        self,
        concurrency: int,
        heartbeat_s: float,
        stalled_s: float,
        name: str | None,
        resume: Callable[[], int] | None,
        resume_every_s: float,
    ) -> None:
        self._opened = False  # opening it async closes a sync connection `submit` opened
        async with self.app.open_async():
            chores = [asyncio.create_task(self._rescue(heartbeat_s, stalled_s))]
            if resume is not None:
                chores.append(asyncio.create_task(self._resume(resume, resume_every_s)))
            try:
                await self.app.run_worker_async(
                    concurrency=concurrency,
                    name=name or f"dossier-{socket.gethostname()}-{os.getpid()}",
                    update_heartbeat_interval=heartbeat_s,
                    stalled_worker_timeout=stalled_s,
                    delete_jobs="successful",
                )
            finally:
                for chore in chores:
                    chore.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await chore

    async def _rescue(self, every_s: float, stalled_s: float) -> None:
        """Requeue the tasks of stalled workers (their item restarts from scratch; nothing of it was stored)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._requeue_stalled(stalled_s)
            except Exception:
                log.warning("could not requeue stalled tasks", exc_info=True)

    async def _requeue_stalled(self, stalled_s: float) -> None:
        """One worker at a time (an advisory lock; the others skip this round): looking and requeueing in turns, a
        task requeued and taken again by a live worker is never seen as stalled and requeued under it."""
        async with await psycopg.AsyncConnection.connect(self._conninfo) as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_RESCUE_LOCK,))
            got = await cur.fetchone()
            if not got or not got[0]:
                return
            for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
                try:
                    await self.app.job_manager.retry_job(job)
                    log.warning("requeued task %s (%s) of a stalled worker", job.id, job.task_name)
                except Exception:
                    log.warning("could not requeue task %s (%s)", job.id, job.task_name, exc_info=True)

    async def _resume(self, resume: Callable[[], int], every_s: float) -> None:
        """A job whose task failed for good (its database went away mid-step) has no live task left; queue it
        again. A job under way is left alone (`submit` checks)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                if queued := await asyncio.to_thread(resume):
                    log.warning("queued %d unfinished job(s) with no live task again", queued)
            except Exception:
                log.warning("could not resume unfinished jobs", exc_info=True)


class WaitForModel(procrastinate.BaseRetryStrategy):
    """An item that found no model is tried again for as long as the model stays away, the wait doubling from
    `first_s` up to `max_s`. A step cut off by its database (a restart, a failover) is tried again a few times.
    Any other exception is not retried: the item step records real failures itself."""

    def __init__(self, *, first_s: float, max_s: float, transient_attempts: int = 5) -> None:
        self._first_s = max(1.0, first_s)
        self._max_s = max(self._first_s, max_s)
        self._transient_attempts = transient_attempts

    def pause_s(self, attempts: int, exception: BaseException) -> int | None:
        """Seconds to wait before the next try after `attempts` failed ones, or None: do not retry."""
        if isinstance(exception, _TRANSIENT) and attempts < self._transient_attempts:
            return int(self._first_s)
        if not isinstance(exception, ModelWait):
            return None
        return int(min(self._max_s, self._first_s * 2 ** min(attempts, 16)))

    def get_retry_decision(self, *, exception: BaseException, job: procrastinate.jobs.Job) -> RetryDecision | None:
        wait = self.pause_s(job.attempts, exception)
        return None if wait is None else RetryDecision(retry_in={"seconds": wait})


_TRANSIENT = (psycopg.OperationalError, sqlalchemy.exc.OperationalError)
_RESCUE_LOCK = zlib.crc32(b"dossier:requeue-stalled")
_LIVE_TASKS = """SELECT 1 FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') AND task_name LIKE 'dossier.%%' AND args->>'job_id' = %s LIMIT 1"""
