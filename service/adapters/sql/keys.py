"""API keys on SQLAlchemy: the SHA-256 of each token, never the token."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import DateTime, String, Text, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.adapters.sql.base import Base
from service.domain.access import ApiKey


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    collections: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list; null: all
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _to_domain(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=row.role,
        collections=json.loads(row.collections) if row.collections is not None else None,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlKeyStore:
    """`KeyStore` on the shared database, so every replica sees the same keys."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, key: ApiKey, token_hash: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(
                ApiKeyRow(
                    id=key.id,
                    token_hash=token_hash,
                    name=key.name,
                    role=key.role,
                    collections=json.dumps(key.collections) if key.collections is not None else None,
                    prefix=key.prefix,
                    created_at=key.created_at,
                )
            )

    def by_hash(self, token_hash: str) -> ApiKey | None:
        with Session(self.engine) as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.token_hash == token_hash))
            return _to_domain(row) if row else None

    def list(self) -> list[ApiKey]:
        with Session(self.engine) as s:
            rows = s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id)).all()
            return [_to_domain(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with Session(self.engine) as s, s.begin():
            done = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(ApiKeyRow)) or 0)

    def active_count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))) or 0)
