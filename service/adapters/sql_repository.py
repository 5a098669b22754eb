"""Document repository on SQLAlchemy (SQLite by default; a Postgres URL works the same)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Date, DateTime, Integer, String, Text, create_engine, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from service.domain.models import Document


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
    """DocumentRepository: one row per document, replaced atomically with the corpus version bump."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        with Session(engine) as s, s.begin():
            if s.get(CorpusVersion, 1) is None:
                s.add(CorpusVersion(id=1, version=0))

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

    def save(self, document: Document, replaces: str | None) -> None:
        with Session(self._engine) as s, s.begin():
            if replaces and replaces != document.id:
                s.execute(delete(DocumentRow).where(DocumentRow.id == replaces))
                s.execute(delete(ExtractionRow).where(ExtractionRow.document_id == replaces))
            s.merge(DocumentRow(**document.model_dump()))
            self._bump(s)

    def delete(self, document_id: str) -> bool:
        with Session(self._engine) as s, s.begin():
            gone = s.execute(delete(DocumentRow).where(DocumentRow.id == document_id)).rowcount  # type: ignore[attr-defined]
            s.execute(delete(ExtractionRow).where(ExtractionRow.document_id == document_id))
            if gone:
                self._bump(s)
            return bool(gone)

    def corpus_version(self) -> int:
        with Session(self._engine) as s:
            row = s.get(CorpusVersion, 1)
            return row.version if row else 0
