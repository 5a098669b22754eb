"""The lexical (BM25) index inside the SQL database, written per document: SQLite FTS5 with its `bm25()` for the
embedded default, Postgres full-text search (`tsvector`, GIN index, `ts_rank`) when the database is Postgres.

Each passage is one row of `lexical_passages` (its metadata, for filters, and `terms`: Dossier's own stemmed
content terms, so both engines rank the same tokens). On SQLite an FTS5 table indexes `terms` as external content,
kept in step by triggers. Writing or deleting a document touches only its rows; nothing is rebuilt per corpus,
and every replica reads the same index.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Date, Integer, String, Text, delete, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.adapters.sql_db import Base, derived_from_document
from service.core.text import content_terms
from service.domain.models import Passage, RetrievalFilter


class LexicalRow(Base):
    __tablename__ = "lexical_passages"

    rowid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    passage_id: Mapped[str] = mapped_column(String(64), unique=True)
    document_id: Mapped[str] = mapped_column(String(64), index=True)
    collection: Mapped[str] = mapped_column(String(64), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    published: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    terms: Mapped[str] = mapped_column(Text)


derived_from_document("lexical_passages")  # a deleted or replaced document takes its rows in the same transaction
ATTEMPTS = 5

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS lexical_fts USING fts5(terms, content='lexical_passages', "
    "content_rowid='rowid', tokenize='unicode61')",
    "CREATE TRIGGER IF NOT EXISTS lexical_ai AFTER INSERT ON lexical_passages BEGIN "
    "INSERT INTO lexical_fts(rowid, terms) VALUES (new.rowid, new.terms); END",
    "CREATE TRIGGER IF NOT EXISTS lexical_ad AFTER DELETE ON lexical_passages BEGIN "
    "INSERT INTO lexical_fts(lexical_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms); END",
]
POSTGRES_DDL = [
    "ALTER TABLE lexical_passages ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_lexical_tsv ON lexical_passages USING GIN (tsv)",
]


def create_engine_index(conn: Connection) -> None:
    """The engine's own full-text index over `lexical_passages.terms` (a migration step)."""
    Base.metadata.tables["lexical_passages"].create(conn, checkfirst=True)
    for ddl in SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRES_DDL:
        conn.execute(text(ddl))


def query_terms(terms: Sequence[str]) -> list[str]:
    """The distinct, non-empty terms (each is quoted for the engine, so `f-35`, `u.s` and `o'brie` stay terms)."""
    return list(dict.fromkeys(t for t in terms if t.strip()))


class SqlLexicalIndex:
    """LexicalIndex over the SQL database (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def upsert(self, passages: Sequence[Passage]) -> None:
        """Insert or replace passages (by id), in one transaction."""
        if not passages:
            return
        rows = [
            {"passage_id": p.id, "document_id": p.document_id, "collection": p.collection, "idx": p.index,
             "start": p.start, "stop": p.end, "text": p.text, "title": p.title, "source": p.source,
             "published": p.published, "terms": " ".join(content_terms(p.text))}
            for p in passages
        ]  # fmt: skip
        table = Base.metadata.tables["lexical_passages"]

        def write(conn: Connection) -> None:
            conn.execute(delete(table).where(table.c.passage_id.in_([r["passage_id"] for r in rows])))
            conn.execute(table.insert(), rows)

        self._write(write)

    def delete_document(self, document_id: str) -> None:
        """Remove every passage of a document."""
        table = Base.metadata.tables["lexical_passages"]
        self._write(lambda conn: conn.execute(delete(table).where(table.c.document_id == document_id)))

    def _write(self, step: Callable[[Connection], object]) -> None:
        """One transaction, run again when SQLite's lock or a Postgres deadlock refused it."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    step(conn)
                return
            except (OperationalError, IntegrityError) as exc:
                # SQLite's lock, a Postgres deadlock, or a concurrent ingest of the same text that inserted the
                # same passage ids first (Postgres): run again, and the delete now sees its committed rows.
                text_ = str(exc).lower()
                lost_race = isinstance(exc, IntegrityError)
                if attempt == ATTEMPTS or not (lost_race or "locked" in text_ or "deadlock" in text_):
                    raise
                time.sleep(0.01 * 2**attempt)

    def counts(self) -> dict[str, int]:
        """Passages per document (for reconciliation at startup)."""
        with Session(self._engine) as s:
            rows = s.execute(select(LexicalRow.document_id, func.count()).group_by(LexicalRow.document_id)).all()
        return {doc_id: int(n) for doc_id, n in rows}

    def search(self, terms: Sequence[str], n: int, flt: RetrievalFilter | None) -> list[Passage]:
        """The `n` best passages for `terms` by the engine's ranking, within the filter."""
        words = query_terms(terms)
        if not words:
            return []
        if self._sqlite:
            sql = ("SELECT p.* FROM lexical_fts JOIN lexical_passages p ON p.rowid = lexical_fts.rowid "
                   "WHERE lexical_fts MATCH :q")  # fmt: skip
            order = " ORDER BY bm25(lexical_fts), p.passage_id LIMIT :n"
            quoted = ['"' + w.replace('"', '""') + '"' for w in words]  # an FTS5 string: tokenised like `terms`
            params: dict[str, object] = {"q": " OR ".join(quoted), "n": n}
        else:
            sql = "SELECT p.* FROM lexical_passages p WHERE p.tsv @@ to_tsquery('simple', :q)"
            order = " ORDER BY ts_rank(p.tsv, to_tsquery('simple', :q)) DESC, p.passage_id LIMIT :n"
            params = {"q": " | ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words), "n": n}
        where, extra = _filter_sql(flt)
        params.update(extra)
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql + where + order), params).mappings().all()
        return [
            Passage(id=r["passage_id"], document_id=r["document_id"], index=r["idx"], start=r["start"], end=r["stop"],
                    text=r["text"], title=r["title"], source=r["source"], published=_date(r["published"]),
                    collection=r["collection"])
            for r in rows
        ]  # fmt: skip


def _date(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _filter_sql(flt: RetrievalFilter | None) -> tuple[str, dict[str, object]]:
    """The filter as extra WHERE conditions on `p`, with bound parameters only."""
    if flt is None:
        return "", {}
    parts: list[str] = []
    params: dict[str, object] = {}
    for name, values in (("collection", flt.collections), ("document_id", flt.document_ids)):
        if values is not None:
            if not values:
                return " AND 1 = 0", {}
            keys = [f"{name}_{i}" for i in range(len(values))]
            parts.append(f"p.{name} IN ({', '.join(':' + k for k in keys)})")
            params.update(zip(keys, values, strict=True))
    if flt.source is not None:
        parts.append("p.source = :source")
        params["source"] = flt.source
    if flt.published_from is not None:
        parts.append("p.published >= :published_from")
        params["published_from"] = flt.published_from
    if flt.published_to is not None:
        parts.append("p.published <= :published_to")
        params["published_to"] = flt.published_to
    return "".join(f" AND {p}" for p in parts), params
