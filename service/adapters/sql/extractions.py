"""Extraction results on SQLAlchemy, keyed by document content, schema, prompt version and model."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.adapters.sql.base import Base, derived_from_document
from service.domain.facts import Extraction


class ExtractionRow(Base):
    __tablename__ = "extractions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(64), index=True)
    schema_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


derived_from_document(ExtractionRow.__tablename__)


def extraction_key(document_id: str, schema_ref: str, prompt_ref: str, model: str) -> str:
    return hashlib.sha256(f"{document_id}|{schema_ref}|{prompt_ref}|{model}".encode()).hexdigest()[:40]


class SqlExtractionStore:
    """ExtractionStore: rows die with their document (replace or delete), see `base.derived_from_document`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key: str) -> Extraction | None:
        with Session(self._engine) as s:
            row = s.get(ExtractionRow, key)
            return Extraction.model_validate_json(row.payload) if row else None

    def save(self, key: str, extraction: Extraction) -> None:
        with Session(self._engine) as s, s.begin():
            s.merge(
                ExtractionRow(
                    key=key,
                    document_id=extraction.document_id,
                    schema_id=extraction.schema_id,
                    payload=extraction.model_dump_json(),
                    created_at=extraction.created_at,
                )
            )

    def for_document(self, document_id: str) -> list[Extraction]:
        with Session(self._engine) as s:
            rows = s.scalars(
                select(ExtractionRow)
                .where(ExtractionRow.document_id == document_id)
                .order_by(ExtractionRow.created_at.desc(), ExtractionRow.key)
            )
            return [Extraction.model_validate_json(r.payload) for r in rows]

    def all(self, schema_id: str | None = None) -> list[Extraction]:
        with Session(self._engine) as s:
            q = select(ExtractionRow).order_by(ExtractionRow.created_at.desc(), ExtractionRow.key)
            if schema_id:
                q = q.where(ExtractionRow.schema_id == schema_id)
            return [Extraction.model_validate_json(r.payload) for r in s.scalars(q)]
