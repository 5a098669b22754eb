"""Document repository on SQLAlchemy (SQLite by default; a Postgres URL works the same)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

from sqlalchemy import Date, DateTime, Integer, String, Text, and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.expression import Executable

from service.adapters.sql.base import Base, document_children
from service.domain.access import DEFAULT_COLLECTION
from service.domain.models import Document, SaveOutcome

log = logging.getLogger(__name__)
SAVE_ATTEMPTS = 8


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
    collection: Mapped[str] = mapped_column(String(64), index=True, default=DEFAULT_COLLECTION)


class SourceKeyRow(Base):
    """The one live document of each source key (path, URL or caller key). Its primary key serialises concurrent
    saves under one key in the database itself, so it holds across API replicas."""

    __tablename__ = "source_keys"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(64), index=True)


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
        collection=row.collection,
    )


class SqlDocumentRepository:
    """DocumentRepository: one row per document, one live document per source key."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, document_id: str) -> Document | None:
        with Session(self._engine) as s:
            row = s.get(DocumentRow, document_id)
            return _to_domain(row) if row else None

    def list(
        self,
        collections: list[str] | None = None,
        *,
        limit: int | None = None,
        after: tuple[dt.datetime, str] | None = None,
        search: str | None = None,
    ) -> list[Document]:
        q = select(DocumentRow).order_by(DocumentRow.created_at.desc(), DocumentRow.id)
        if collections is not None:
            q = q.where(DocumentRow.collection.in_(collections))
        if search:  # a literal substring of the title or source, lowered by the database on both sides
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = func.lower(literal(f"%{escaped}%"))
            title, source = func.lower(DocumentRow.title), func.lower(func.coalesce(DocumentRow.source, ""))
            q = q.where(or_(title.like(pattern, escape="\\"), source.like(pattern, escape="\\")))
        if after is not None:  # keyset: the rows after (created_at, id) in this order
            when, last_id = after
            q = q.where(
                or_(DocumentRow.created_at < when, and_(DocumentRow.created_at == when, DocumentRow.id > last_id))
            )
        if limit is not None:
            q = q.limit(limit)
        with Session(self._engine) as s:
            return [_to_domain(r) for r in s.scalars(q)]

    def ids(self, collections: Sequence[str] | None = None) -> set[str]:
        q = select(DocumentRow.id)
        if collections is not None:
            q = q.where(DocumentRow.collection.in_(collections))
        with Session(self._engine) as s:
            return set(s.scalars(q))

    def existing(self, document_ids: Sequence[str]) -> set[str]:
        if not document_ids:
            return set()
        with Session(self._engine) as s:
            return set(s.scalars(select(DocumentRow.id).where(DocumentRow.id.in_(list(set(document_ids))))))

    def collections(self) -> Sequence[str]:
        with Session(self._engine) as s:
            return sorted(s.scalars(select(DocumentRow.collection).distinct()))

    def save(self, document: Document) -> SaveOutcome:
        """Insert the document unless its id exists; make it its source key's live document, removing the one the
        key held. Concurrent saves race in the database: the key row is written first (SQLite's write lock,
        a Postgres row lock), and an insert that loses a uniqueness race is retried from the start."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self._save_once(document)
            except (IntegrityError, OperationalError, NoResultFound) as exc:  # a key row deleted meanwhile, too
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
                for table in document_children():
                    s.execute(delete(table).where(table.c.document_id.in_(replaced)))
                s.execute(update(SourceKeyRow).where(SourceKeyRow.key == doc.source_key).values(document_id=doc.id))
            s.add(DocumentRow(**doc.model_dump()))
            s.flush()
            return SaveOutcome(status="replaced" if replaced else "created", replaced=replaced)

    def _insert_key_if_absent(self, key: str, doc_id: str) -> Executable:
        dialect = self._engine.dialect.name
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        if dialect not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"no insert-if-absent for {dialect}; use SQLite or Postgres")
        return build(SourceKeyRow).values(key=key, document_id=doc_id).on_conflict_do_nothing(index_elements=["key"])

    def delete(self, document_id: str) -> bool:
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self._delete_once(document_id)
            except OperationalError as exc:
                if attempt == SAVE_ATTEMPTS or not _retryable(exc):
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _delete_once(self, document_id: str) -> bool:
        with Session(self._engine) as s, s.begin():
            # the key row first, as `save` does, so the two never lock in opposite orders
            s.execute(select(SourceKeyRow.key).where(SourceKeyRow.document_id == document_id).with_for_update())
            gone = s.execute(delete(DocumentRow).where(DocumentRow.id == document_id)).rowcount  # type: ignore[attr-defined]
            for table in document_children():
                s.execute(delete(table).where(table.c.document_id == document_id))
            s.execute(delete(SourceKeyRow).where(SourceKeyRow.document_id == document_id))
            return bool(gone)


def _retryable(exc: Exception) -> bool:
    """A lost uniqueness race, a vanished key row, SQLite's busy lock or a Postgres deadlock: each goes away when
    the transaction is run again."""
    if isinstance(exc, IntegrityError | NoResultFound):
        return True
    return "locked" in str(exc).lower() or "deadlock" in str(exc).lower()
