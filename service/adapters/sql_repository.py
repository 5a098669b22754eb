"""Document repository on SQLAlchemy (SQLite by default; a Postgres URL works the same)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from sqlalchemy import Date, DateTime, Integer, String, Text, create_engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.expression import Executable

from service.domain.models import Document, SaveOutcome

log = logging.getLogger(__name__)
SAVE_ATTEMPTS = 8


class Base(DeclarativeBase):
    """Declarative base for Dossier's tables."""


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(1024), index=True)
    title: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str | None] = mapped_column(String(512), nullable=True, index=True)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    published: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    sentence_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SourceKeyRow(Base):
    """The one live document of each source key (path, URL or caller key). Its primary key serialises concurrent
    saves under one key in the database itself, so it holds across API replicas."""

    __tablename__ = "source_keys"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(64), index=True)


class ExtractionRow(Base):
    __tablename__ = "extractions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(64), index=True)
    schema_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CorpusVersion(Base):
    __tablename__ = "corpus_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


def make_engine(url: str) -> Engine:
    """Engine for `url`; creates the SQLite folder and the tables when missing."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


def _to_domain(row: DocumentRow) -> Document:
    return Document(
        id=row.id,
        source_key=row.source_key,
        title=row.title,
        source=row.source,
        url=row.url,
        published=row.published,
        text=row.text,
        sentence_count=row.sentence_count,
        created_at=row.created_at,
    )


class SqlDocumentRepository:
    """DocumentRepository: one row per document, one live document per source key, writes bump a version."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        with Session(engine) as s, s.begin():
            if s.get(CorpusVersion, 1) is None:
                s.add(CorpusVersion(id=1, version=0))
        self._adopt_source_keys()

    def _adopt_source_keys(self) -> None:
        """Give every source key of older data dirs its row; where a key holds several documents (a race before
        keys had rows), keep the newest and drop the rest (startup reconciliation removes their passages)."""
        with Session(self._engine) as s, s.begin():
            keyed = select(SourceKeyRow.key)
            rows = s.execute(
                select(DocumentRow.source_key, DocumentRow.id, DocumentRow.created_at)
                .where(DocumentRow.source_key.not_in(keyed))
                .order_by(DocumentRow.source_key, DocumentRow.created_at.desc(), DocumentRow.id)
            ).all()
            seen: set[str] = set()
            for key, doc_id, _ in rows:
                if key in seen:
                    log.warning("dropping stale duplicate %s of source key %s", doc_id, key)
                    s.execute(delete(DocumentRow).where(DocumentRow.id == doc_id))
                    s.execute(delete(ExtractionRow).where(ExtractionRow.document_id == doc_id))
                    continue
                seen.add(key)
                s.add(SourceKeyRow(key=key, document_id=doc_id))
            if rows:
                self._bump(s)

    def get(self, document_id: str) -> Document | None:
        with Session(self._engine) as s:
            row = s.get(DocumentRow, document_id)
            return _to_domain(row) if row else None

    def get_by_source_key(self, source_key: str) -> Document | None:
        with Session(self._engine) as s:
            row = s.scalars(select(DocumentRow).where(DocumentRow.source_key == source_key)).first()
            return _to_domain(row) if row else None

    def list(self) -> list[Document]:
        with Session(self._engine) as s:
            rows = s.scalars(select(DocumentRow).order_by(DocumentRow.created_at.desc(), DocumentRow.id))
            return [_to_domain(r) for r in rows]

    def ids(self) -> set[str]:
        with Session(self._engine) as s:
            return set(s.scalars(select(DocumentRow.id)))

    def _bump(self, s: Session) -> None:
        s.execute(update(CorpusVersion).where(CorpusVersion.id == 1).values(version=CorpusVersion.version + 1))

    def save(self, document: Document) -> SaveOutcome:
        """Insert the document unless its id exists; make it its source key's live document, removing the one the
        key held. Concurrent saves race in the database: the key row is written first (SQLite's write lock,
        a Postgres row lock), and an insert that loses a uniqueness race is retried from the start."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self._save_once(document)
            except (IntegrityError, OperationalError) as exc:
                if attempt == SAVE_ATTEMPTS or not _retryable(exc):
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _save_once(self, doc: Document) -> SaveOutcome:
        with Session(self._engine) as s, s.begin():
            s.execute(self._insert_key_if_absent(doc.source_key, doc.id))
            holder = s.execute(
                select(SourceKeyRow.document_id).where(SourceKeyRow.key == doc.source_key).with_for_update()
            ).scalar_one()
            existing = s.get(DocumentRow, doc.id)
            if existing is not None:  # same content already stored, maybe just now by a concurrent request
                if holder == doc.id and existing.source_key != doc.source_key:
                    s.execute(delete(SourceKeyRow).where(SourceKeyRow.key == doc.source_key))
                return SaveOutcome(status="unchanged")
            replaced: list[str] = []
            if holder != doc.id:
                replaced = list(s.scalars(select(DocumentRow.id).where(DocumentRow.source_key == doc.source_key)))
                replaced += [holder] if holder not in replaced else []
                s.execute(delete(DocumentRow).where(DocumentRow.id.in_(replaced)))
                s.execute(delete(ExtractionRow).where(ExtractionRow.document_id.in_(replaced)))
                s.execute(update(SourceKeyRow).where(SourceKeyRow.key == doc.source_key).values(document_id=doc.id))
            s.add(DocumentRow(**doc.model_dump()))
            s.flush()
            self._bump(s)
            return SaveOutcome(status="replaced" if replaced else "created", replaced=replaced)

    def _insert_key_if_absent(self, key: str, doc_id: str) -> Executable:
        dialect = self._engine.dialect.name
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        if dialect not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"no insert-if-absent for {dialect}; use SQLite or Postgres")
        return build(SourceKeyRow).values(key=key, document_id=doc_id).on_conflict_do_nothing(index_elements=["key"])

    def delete(self, document_id: str) -> bool:
        with Session(self._engine) as s, s.begin():
            gone = s.execute(delete(DocumentRow).where(DocumentRow.id == document_id)).rowcount  # type: ignore[attr-defined]
            s.execute(delete(ExtractionRow).where(ExtractionRow.document_id == document_id))
            s.execute(delete(SourceKeyRow).where(SourceKeyRow.document_id == document_id))
            if gone:
                self._bump(s)
            return bool(gone)

    def corpus_version(self) -> int:
        with Session(self._engine) as s:
            row = s.get(CorpusVersion, 1)
            return row.version if row else 0


def _retryable(exc: IntegrityError | OperationalError) -> bool:
    """A lost uniqueness race, or SQLite's busy lock: both go away when the transaction is run again."""
    return isinstance(exc, IntegrityError) or "locked" in str(exc).lower() or "deadlock" in str(exc).lower()
