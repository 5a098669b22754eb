"""The one job engine, driven by a kind of work of the test's own over the real SQL job store: item states and
reasons, model waits and resume, wrap-up once, and the steps a queue runs giving the same result as `run`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.adapters.sql.jobs import SqlJobStore
from service.container import Container
from service.core.jobs import JobEngine
from service.domain.errors import ModelUnreachable, NotFound
from service.domain.summaries import Job, JobKind
from tests.conftest import make_container, make_settings


class Work:
    """Marks an item done, or fails / waits as scripted per document id; counts wrap-ups."""

    kind: JobKind = "extraction"
    label = "test job"

    def __init__(self, jobs: SqlJobStore, script: dict[str, list[str]]) -> None:
        self.jobs = jobs
        self.script = script  # doc id -> outcomes in order: "ok", "fail", "wait"
        self.calls: list[str] = []
        self.wrap_ups: list[str] = []

    def do(self, job_id: str, doc_id: str, seconds: Callable[[], float]) -> None:
        self.calls.append(doc_id)
        outcome = self.script[doc_id].pop(0) if len(self.script[doc_id]) > 1 else self.script[doc_id][0]
        if outcome == "fail":
            raise ValueError(f"{doc_id} is unreadable")
        if outcome == "wait":
            raise ModelUnreachable("connection refused")
        self.jobs.mark_item(job_id, doc_id, "done", seconds=seconds())

    def wrap_up(self, job: Job) -> None:
        self.wrap_ups.append(job.id)


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Container]:
    container = make_container(make_settings(tmp_path))
    yield container
    container.close()


def _job(c: Container, docs: list[str], kind: JobKind = "extraction") -> str:
    c.jobs.create("job_t", "test", [(d, d.upper()) for d in docs], dt.datetime.now(dt.UTC), "default", kind=kind)
    return "job_t"


def test_items_done_and_failed_with_reasons_and_one_wrap_up(c: Container) -> None:
    work = Work(c.jobs, {"a": ["ok"], "b": ["fail"], "c": ["ok"]})
    job_id = _job(c, ["a", "b", "c"])
    seen: list[int] = []
    final = JobEngine(c.jobs, work).run(job_id, lambda j: seen.append(j.done + j.failed))
    assert final.state == "completed_with_failures"
    states = {i.document_id: (i.state, i.error) for i in final.items}
    assert states == {"a": ("done", None), "b": ("failed", "ValueError: b is unreadable"), "c": ("done", None)}
    assert work.wrap_ups == [job_id]
    assert seen[-1] == 3 and seen == sorted(seen)  # progress after each item, then the final job
    again = JobEngine(c.jobs, work).run(job_id)  # a completed job is left as it stands
    assert again.state == "completed_with_failures" and work.calls == ["a", "b", "c"]


def test_an_unreachable_model_puts_the_item_back_and_the_next_round_finishes_it(c: Container) -> None:
    work = Work(c.jobs, {"a": ["wait", "ok"], "b": ["ok"]})
    waits: list[float] = []
    final = JobEngine(c.jobs, work, model_rounds=2, model_wait_s=5, sleep=waits.append).run(_job(c, ["a", "b"]))
    assert final.state == "completed" and waits == [5]
    assert work.calls == ["a", "b", "a"]


def test_a_model_down_for_good_leaves_the_job_pending_and_a_resume_completes_it(c: Container) -> None:
    work = Work(c.jobs, {"a": ["wait"]})
    job_id = _job(c, ["a"])
    waits: list[float] = []
    stalled = JobEngine(c.jobs, work, model_rounds=2, model_wait_s=1, sleep=waits.append).run(job_id)
    assert stalled.state == "pending" and waits == [1, 2] and work.wrap_ups == []
    assert stalled.items[0].state == "pending" and "waiting for the model" in (stalled.items[0].error or "")
    work.script["a"] = ["ok"]
    assert JobEngine(c.jobs, work).run(job_id).state == "completed"
    assert work.wrap_ups == [job_id]


def test_steps_give_what_run_gives_and_each_step_is_idempotent(c: Container) -> None:
    work = Work(c.jobs, {"a": ["ok"], "b": ["ok"]})
    engine = JobEngine(c.jobs, work)
    job_id = _job(c, ["a", "b"])
    items = engine.start(job_id)
    assert items == ["a", "b"]
    assert engine.item(job_id, "a") is False
    assert engine.finish(job_id) is False  # b is left
    assert engine.item(job_id, "a") is False and work.calls == ["a"]  # a done item is skipped
    assert engine.item(job_id, "b") is False
    assert engine.finish(job_id) is True and engine.finish(job_id) is True
    assert work.wrap_ups == [job_id] and engine.job(job_id).state == "completed"
    assert engine.start(job_id) == []


def test_a_job_of_another_kind_is_not_found(c: Container) -> None:
    job_id = _job(c, ["a"], kind="summaries")
    with pytest.raises(NotFound, match="test job 'job_t' does not exist"):
        JobEngine(c.jobs, Work(c.jobs, {"a": ["ok"]})).run(job_id)
