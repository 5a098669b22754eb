"""Jobs spread over workers on any host through procrastinate, a maintained Postgres-backed task queue.

A job becomes one `start` task, which defers an `item` task per report, and a `finish` task after each item
(only one of them queued at a time, per job). Workers fetch tasks with `SELECT … FOR UPDATE SKIP LOCKED`, so no
two take the same task. Each item task has a lock of its own: a duplicate (a resumed job, a retried task) waits
for the first and then finds the item finished. Workers write a heartbeat every `heartbeat_s`; a task whose
worker has been silent for `stalled_s` (killed, its host gone) is put back in the queue by whichever worker looks
next, so a killed worker loses at most the item it was doing. The items' steps are idempotent and a summary is
stored in the same transaction that marks its item done, so a report is summarised exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import zlib
from collections.abc import Mapping
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
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
        model_retries: int = 4,
        model_wait_s: float = 10.0,
    ) -> None:
        self._conninfo = libpq_url(database_url)
        self._steps = steps
        self._opened = False
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self._conninfo))
        retry = procrastinate.RetryStrategy(
            max_attempts=model_retries, wait=int(model_wait_s), exponential_wait=2, retry_exceptions={ModelWait}
        )
        self._start = self.app.task(name="dossier.start")(self._start_job)
        self._item = self.app.task(name="dossier.item", retry=retry)(self._do_item)
        self._finish = self.app.task(name="dossier.finish")(self._finish_job)

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
    def submit(self, job_id: str, kind: JobKind) -> None:
        """Queue the job's start; a start already queued for it stands."""
        if not self._opened:
            self.app.open()
            self._opened = True
        self._defer(self._start, f"start:{job_id}", job_id=job_id, kind=kind)

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
        """Defer unless the same task (same lock) is already queued; the lock also runs duplicates one by one."""
        with contextlib.suppress(pexc.AlreadyEnqueued):
            task.configure(lock=lock, queueing_lock=lock).defer(**kwargs)

    # -- the worker ---------------------------------------------------------------------------------
    def work(self, *, concurrency: int, heartbeat_s: float, stalled_s: float, name: str | None = None) -> None:
        """Run a worker until SIGINT/SIGTERM: take tasks, and put back those of workers silent for `stalled_s`."""
        asyncio.run(self._work(concurrency=concurrency, heartbeat_s=heartbeat_s, stalled_s=stalled_s, name=name))

    async def _work(self, *, concurrency: int, heartbeat_s: float, stalled_s: float, name: str | None) -> None:
        self._opened = False  # opening it async closes a sync connection `submit` opened
        async with self.app.open_async():
            rescue = asyncio.create_task(self._rescue(heartbeat_s, stalled_s))
            try:
                await self.app.run_worker_async(
                    concurrency=concurrency,
                    name=name or f"dossier-{socket.gethostname()}-{os.getpid()}",
                    update_heartbeat_interval=heartbeat_s,
                    stalled_worker_timeout=stalled_s,
                    delete_jobs="successful",
                )
            finally:
                rescue.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rescue

    async def _rescue(self, every_s: float, stalled_s: float) -> None:
        """Requeue the tasks of stalled workers (their item restarts from scratch; nothing of it was stored)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
                    try:
                        await self.app.job_manager.retry_job(job)
                        log.warning("requeued task %s (%s) of a stalled worker", job.id, job.task_name)
                    except pexc.ConnectorException:  # another worker requeued it first
                        continue
            except Exception:
                log.warning("could not look for stalled tasks", exc_info=True)
