"""Batch jobs, their items, summaries and the batch watermark on SQLAlchemy (SQLite or Postgres)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import DateTime, Float, ForeignKey, Integer, Select, String, Text, and_, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.adapters.sql.base import Base, derived_from_document
from service.domain.access import DEFAULT_COLLECTION
from service.domain.summaries import Digest, Job, JobItem, JobKind, Summary


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    digest: Mapped[str | None] = mapped_column(Text, nullable=True)
    digest_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    collection: Mapped[str] = mapped_column(String(64), default=DEFAULT_COLLECTION)
    kind: Mapped[str] = mapped_column(String(16), default="summaries")
    params: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobItemRow(Base):
    __tablename__ = "job_items"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(1024), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class SummaryRow(Base):
    __tablename__ = "summaries"

    document_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


derived_from_document(SummaryRow.__tablename__)


class SettingRow(Base):
    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


LEASE = dt.timedelta(minutes=15)
_ME = f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None, heartbeat: dt.datetime | None) -> bool:
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname():
        if int(pid) == os.getpid():
            return False  # our own leftover (e.g. a reused container): resumable
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    beat = heartbeat if heartbeat is None or heartbeat.tzinfo else heartbeat.replace(tzinfo=dt.UTC)
    return beat is not None and dt.datetime.now(dt.UTC) - beat < LEASE


class SqlJobStore:
    """Job and summary persistence. An item is marked done in the same transaction that stores its summary."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local_lock = threading.Lock()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock named `name` across every process sharing the database: a Postgres advisory lock (held by
        a transaction of its own until the block ends); on SQLite, whose embedded default is one process, a lock
        of this store."""
        if self._engine.dialect.name != "postgresql":
            with self._local_lock:
                yield
            return
        with self._engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})
            yield

    def create(
        self,
        job_id: str,
        mode: str,
        items: list[tuple[str, str]],
        now: dt.datetime,
        collection: str,
        kind: JobKind = "summaries",
        params: str | None = None,
    ) -> None:
        with Session(self._engine) as s, s.begin():
            s.add(
                JobRow(
                    id=job_id,
                    state="pending",
                    mode=mode,
                    created_at=now,
                    collection=collection,
                    kind=kind,
                    params=params,
                )
            )
            s.flush()
            for i, (doc_id, title) in enumerate(items):
                s.add(JobItemRow(job_id=job_id, document_id=doc_id, position=i, title=title, state="pending"))

    def get(self, job_id: str) -> Job | None:
        with Session(self._engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return None
            items = s.scalars(select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.position))
            out = [
                JobItem(document_id=i.document_id, title=i.title, state=i.state, error=i.error, seconds=i.seconds)
                for i in items
            ]
            return Job(
                id=row.id,
                state=row.state,
                mode=row.mode,
                created_at=row.created_at,
                finished_at=row.finished_at,
                total=len(out),
                done=sum(i.state == "done" for i in out),
                failed=sum(i.state == "failed" for i in out),
                items=out,
                digest=Digest.model_validate_json(row.digest) if row.digest else None,
                digest_error=row.digest_error,
                collection=row.collection,
                kind=row.kind,
                params=row.params,
            )

    def recent(
        self,
        limit: int = 20,
        collections: Sequence[str] | None = None,
        after: tuple[dt.datetime, str] | None = None,
    ) -> list[Job]:
        q = select(JobRow.id).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
        if collections is not None:
            q = q.where(JobRow.collection.in_(collections))
        if after is not None:
            when, last_id = after
            q = q.where(or_(JobRow.created_at < when, and_(JobRow.created_at == when, JobRow.id > last_id)))
        with Session(self._engine) as s:
            ids = list(s.scalars(q))
        return [j for j in (self.get(i) for i in ids) if j is not None]

    def unfinished(self) -> list[str]:
        """Pending or running jobs whose owning process is gone (same host) or silent past the lease."""
        with Session(self._engine) as s:
            q = select(JobRow).where(JobRow.state.in_(["pending", "running"])).order_by(JobRow.created_at)
            return [r.id for r in s.scalars(q) if not _owner_alive(r.owner, r.heartbeat_at)]

    def active(self, mode: str, document_id: str) -> str | None:
        with Session(self._engine) as s:
            q = (
                select(JobRow.id)
                .join(JobItemRow, JobItemRow.job_id == JobRow.id)
                .where(JobRow.mode == mode, JobRow.state.in_(["pending", "running"]))
                .where(JobItemRow.document_id == document_id)
                .order_by(JobRow.created_at)
            )
            return s.scalars(q).first()

    def claim(self, job_id: str) -> bool:
        """Become the job's runner unless a live one holds it. A compare-and-set on the (owner, heartbeat) read, so
        of two replicas resuming the same job at once exactly one wins."""
        with Session(self._engine) as s, s.begin():
            row = s.get(JobRow, job_id)
            if row is None:
                return False
            if row.owner != _ME and _owner_alive(row.owner, row.heartbeat_at):
                return False
            beat = JobRow.heartbeat_at
            seen = [
                JobRow.owner.is_(None) if row.owner is None else JobRow.owner == row.owner,
                beat.is_(None) if row.heartbeat_at is None else beat == row.heartbeat_at,
            ]
            done = s.execute(
                update(JobRow).where(JobRow.id == job_id, *seen).values(owner=_ME, heartbeat_at=dt.datetime.now(dt.UTC))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def beat(self, job_id: str) -> None:
        """Renew this process's lease on the job (as items finish, and from a timer while one runs)."""
        with Session(self._engine) as s, s.begin():
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.owner == _ME)
                .values(heartbeat_at=dt.datetime.now(dt.UTC))
            )

    def set_state(self, job_id: str, state: str, finished: dt.datetime | None = None) -> None:
        """Set the job's state; a completed job is never reopened (a late duplicate step cannot undo the end)."""
        with Session(self._engine) as s, s.begin():
            q = update(JobRow).where(JobRow.id == job_id)
            if not state.startswith("completed"):
                q = q.where(JobRow.state.not_like("completed%"))
            s.execute(q.values(state=state, finished_at=finished))

    def set_digest(self, job_id: str, digest: Digest | None, error: str | None) -> None:
        with Session(self._engine) as s, s.begin():
            payload = digest.model_dump_json() if digest else None
            s.execute(update(JobRow).where(JobRow.id == job_id).values(digest=payload, digest_error=error))

    def reset_running(self, job_id: str) -> None:
        """Items a killed process left `running` go back to `pending` (their summaries were never stored)."""
        with Session(self._engine) as s, s.begin():
            s.execute(
                update(JobItemRow)
                .where(JobItemRow.job_id == job_id, JobItemRow.state == "running")
                .values(state="pending")
            )

    def mark_item(
        self, job_id: str, doc_id: str, state: str, error: str | None = None, seconds: float | None = None
    ) -> None:
        """Set one item's state, unless it is done: a done item keeps its summary and its state."""
        with Session(self._engine) as s, s.begin():
            s.execute(
                update(JobItemRow)
                .where(JobItemRow.job_id == job_id, JobItemRow.document_id == doc_id, JobItemRow.state != "done")
                .values(state=state, error=error, seconds=seconds)
            )

    def complete_item(self, job_id: str, summary: Summary, seconds: float) -> bool:
        """Store the summary and mark the item done, atomically; False (nothing written) when the item was done
        already, so a report is never summarised twice even by two runners."""
        with Session(self._engine) as s, s.begin():
            marked = s.execute(
                update(JobItemRow)
                .where(
                    JobItemRow.job_id == job_id,
                    JobItemRow.document_id == summary.document_id,
                    JobItemRow.state != "done",
                )
                .values(state="done", error=None, seconds=seconds)
            )
            if not marked.rowcount:  # type: ignore[attr-defined]
                return False
            s.merge(
                SummaryRow(
                    document_id=summary.document_id, payload=summary.model_dump_json(), created_at=summary.created_at
                )
            )
            return True

    def item_state(self, job_id: str, doc_id: str) -> str | None:
        """The state of one item (None if the job has no such item)."""
        with Session(self._engine) as s:
            row = s.get(JobItemRow, (job_id, doc_id))
            return row.state if row else None

    def summary(self, document_id: str) -> Summary | None:
        with Session(self._engine) as s:
            row = s.get(SummaryRow, document_id)
            return Summary.model_validate_json(row.payload) if row else None

    def summarised_ids(self) -> set[str]:
        with Session(self._engine) as s:
            return set(s.scalars(select(SummaryRow.document_id)))

    def in_flight_ids(self) -> set[str]:
        with Session(self._engine) as s:
            q = select(JobItemRow.document_id).where(JobItemRow.state.in_(["pending", "running"]))
            return set(s.scalars(_summaries_only(q)))

    def failed_ids(self) -> set[str]:
        with Session(self._engine) as s:
            q = select(JobItemRow.document_id).where(JobItemRow.state == "failed")
            return set(s.scalars(_summaries_only(q)))

    def watermark(self, collection: str) -> dt.datetime | None:
        with Session(self._engine) as s:
            row = s.get(SettingRow, _watermark_key(collection))
            return dt.datetime.fromisoformat(row.value) if row else None

    def set_watermark(self, collection: str, value: dt.datetime) -> None:
        with Session(self._engine) as s, s.begin():
            s.merge(SettingRow(key=_watermark_key(collection), value=value.isoformat()))


def _summaries_only(q: Select[str]) -> Select[str]:
    """Restrict a query over job items to summary batches (an extraction job's item is not a summary's)."""
    return q.join(JobRow, JobRow.id == JobItemRow.job_id).where(JobRow.kind == "summaries")


def _watermark_key(collection: str) -> str:
    """Each collection has its own "new since" mark (the default one keeps the key it had before collections)."""
    if collection == DEFAULT_COLLECTION:
        return "summary_watermark"
    key = f"summary_watermark:{collection}"
    return key if len(key) <= 64 else "summary_watermark#" + hashlib.sha256(collection.encode()).hexdigest()[:40]
