"""The Postgres job queue (procrastinate) on a real PostgreSQL server: a job under way is queued once however
often it is submitted or resumed, one left with no live task is queued again, and an item that finds no model
keeps waiting for it instead of failing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from procrastinate.jobs import Job as Task

from service.adapters.queue.postgres import ModelWait, PostgresJobQueue, WaitForModel, libpq_url
from service.domain.models import DocumentMeta
from service.topology.postgres import PostgresServer
from tests.conftest import make_container, make_settings


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def _tasks(pg: PostgresServer, job_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(pg.url)) as conn:
        rows = conn.execute(
            "SELECT task_name, status::text FROM procrastinate_jobs WHERE args->>'job_id' = %s ORDER BY id", (job_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_a_job_under_way_is_queued_once(pg: PostgresServer, tmp_path: Path) -> None:
    """Replicas and restarted workers resubmit unfinished jobs; of five submits at once exactly one queues the
    job, and a job whose tasks are queued gets no second copy (a copy used to block the requeue of a stalled task
    for good). A job whose task failed for good has no live task: it is queued again."""
    c = make_container(make_settings(tmp_path, database_url=pg.url, queue="postgres"))
    assert isinstance(c.queue, PostgresJobQueue)
    doc = c.ingest.ingest_text("Acme shipped forty centrifuges in 2020.", DocumentMeta(title="q"), "q").document
    job = c.batches.create(ids=[doc.id])
    assert job is not None
    with ThreadPoolExecutor(max_workers=5) as pool:  # five resumers at once, none of them first
        queued = list(pool.map(lambda _: c.queue.submit(job.id, job.kind), range(5)))
    assert sorted(queued) == [False] * 4 + [True]
    assert c.queue.submit(job.id, job.kind) is False
    assert _tasks(pg, job.id) == [("dossier.start", "todo")]

    with psycopg.connect(libpq_url(pg.url)) as conn:  # its start failed for good (say, the database went away)
        conn.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE args->>'job_id' = %s", (job.id,))
    assert c.queue.submit(job.id, job.kind) is True
    assert _tasks(pg, job.id) == [("dossier.start", "failed"), ("dossier.start", "todo")]
    c.close()


def test_an_item_without_model_waits_for_it_with_growing_pauses() -> None:
    """No number of attempts fails an item whose model is away; the pause doubles up to a ceiling. Any other
    exception is not retried (the item step records real failures itself)."""
    strategy = WaitForModel(first_s=10, max_s=300)

    def pause(attempts: int, exc: BaseException) -> int | None:
        task = Task(id=1, queue="default", lock=None, queueing_lock=None, task_name="dossier.item", attempts=attempts)
        wait = strategy.pause_s(attempts, exc)
        decision = strategy.get_retry_decision(exception=exc, job=task)
        assert (decision is None) == (wait is None)  # procrastinate is told what pause_s says
        if decision is not None:
            assert decision.retry_at is not None and decision.retry_at > dt.datetime.now(dt.UTC)
        return wait

    assert [pause(n, ModelWait("down")) for n in (0, 1, 2, 3, 4, 5, 50, 10_000)] == [10, 20, 40, 80, 160, 300, 300, 300]
    assert pause(0, RuntimeError("a bug")) is None
    cut_off = psycopg.OperationalError("server closed the connection unexpectedly")
    assert [pause(n, cut_off) for n in range(6)] == [10, 10, 10, 10, 10, None]  # a few tries, then it stops
