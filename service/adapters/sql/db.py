"""The SQL database: engine, and ordered, named migrations recorded in `schema_migrations`.

Each table is declared on `base.Base` next to the repository that uses it (`repository`,
`extractions`, `jobs`, `keys`, `lexical`), all imported here so every table is declared before
anything is created. Tables holding data derived from a document register with `derived_from_document`, so
deleting or replacing a document deletes everything derived from it. A schema change is a new function appended
to `MIGRATIONS`, never an edit of an applied one: an existing database is brought up to date on the next start.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, delete, event, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from service.adapters.sql import extractions, jobs, keys, repository
from service.adapters.sql.base import Base, document_children
from service.adapters.sql.lexical import create_engine_index, create_vocabulary, rebuild_engine_index
from service.core.segment import passage_id, segment
from service.core.text import content_terms

TABLE_MODULES = (repository, extractions, jobs, keys)  # imported: every table is declared
log = logging.getLogger(__name__)


_applied = Table(
    "schema_migrations",
    MetaData(),
    Column("name", String(200), primary_key=True),
    Column("applied_at", DateTime(timezone=True)),
)


def _tables(conn: Connection) -> None:
    """Every table of this version, created where missing (a new database, or tables added since)."""
    Base.metadata.create_all(conn)


def _source_keys(conn: Connection) -> None:
    """One live document per source key: adopt older data dirs' keys, dropping stale duplicates of a key."""
    docs = Base.metadata.tables["documents"]
    keys = Base.metadata.tables["source_keys"]
    rows = conn.execute(
        select(docs.c.source_key, docs.c.id)
        .where(docs.c.source_key.not_in(select(keys.c.key)))
        .order_by(docs.c.source_key, docs.c.created_at.desc(), docs.c.id)
    ).all()
    seen: set[str] = set()
    for key, doc_id in rows:
        if key in seen:
            log.warning("dropping stale duplicate %s of source key %s", doc_id, key)
            conn.execute(delete(docs).where(docs.c.id == doc_id))
            continue
        seen.add(key)
        conn.execute(keys.insert().values(key=key, document_id=doc_id))


def _orphaned_derived_rows(conn: Connection) -> None:
    """Extractions and summaries of documents deleted before deletion cascaded to them."""
    docs = Base.metadata.tables["documents"]
    for table in document_children():
        if inspect(conn).has_table(table.name):  # tables added by later migrations may not exist yet
            conn.execute(delete(table).where(table.c.document_id.not_in(select(docs.c.id))))


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _collections(conn: Connection) -> None:
    """Documents and jobs belong to a collection; those stored before collections existed to `default`."""
    _add_column(conn, "documents", "collection", "VARCHAR(64) NOT NULL DEFAULT 'default'")
    _add_column(conn, "jobs", "collection", "VARCHAR(64) NOT NULL DEFAULT 'default'")
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_documents_collection ON documents (collection)"))


def _job_kinds(conn: Connection) -> None:
    """Jobs are summary batches or extractions of long reports; those before are summary batches."""
    _add_column(conn, "jobs", "kind", "VARCHAR(16) NOT NULL DEFAULT 'summaries'")
    _add_column(conn, "jobs", "params", "TEXT")


def _lexical_index(conn: Connection) -> None:
    """The lexical index moves into the database (FTS5 on SQLite, tsvector on Postgres), filled from the stored
    documents once; before, every process rebuilt it in memory from all passages after every write."""
    create_engine_index(conn)
    docs = Base.metadata.tables["documents"]
    table = Base.metadata.tables["lexical_passages"]
    for d in conn.execute(select(docs)).mappings():
        rows = [
            {
                "passage_id": passage_id(d["id"], s.index),
                "document_id": d["id"],
                "collection": d["collection"],
                "idx": s.index,
                "start": s.start,
                "stop": s.end,
                "text": d["text"][s.start : s.end],
                "title": d["title"],
                "source": d["source"],
                "published": d["published"],
                "terms": " ".join(content_terms(d["text"][s.start : s.end])),
            }
            for s in segment(d["text"])
        ]
        if rows:
            conn.execute(table.insert(), rows)


def _lexical_vocabulary(conn: Connection) -> None:
    """FTS5's per-term document frequencies, so that a query on a large corpus can tell its common terms."""
    create_vocabulary(conn)


def _engine_stemmer(conn: Connection) -> None:
    """The lexical index holds the passage text, tokenised and stemmed by the engine itself (FTS5 porter, Postgres
    english); before, it held terms cut by Dossier's own stemmer and stopword list."""
    rebuild_engine_index(conn)


def _no_corpus_version(conn: Connection) -> None:
    """The corpus-version counter goes: every write bumped it and nothing read it, and on Postgres every writer
    queued on its one row's lock."""
    conn.execute(text("DROP TABLE IF EXISTS corpus_version"))


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_tables", _tables),
    ("002_source_keys", _source_keys),
    ("003_orphaned_derived_rows", _orphaned_derived_rows),
    ("004_api_keys", _tables),  # creates the api_keys table in databases made before it existed
    ("005_collections", _collections),
    ("006_job_kinds", _job_kinds),
    ("007_lexical_index", _lexical_index),
    ("008_lexical_vocabulary", _lexical_vocabulary),
    ("009_engine_stemmer", _engine_stemmer),
    ("010_no_corpus_version", _no_corpus_version),
]


def migrate(engine: Engine) -> list[str]:
    """Apply the migrations this database has not seen, in order, each in its own transaction. On Postgres, replicas
    starting together take turns (an advisory lock held by a connection of its own)."""
    if engine.dialect.name != "postgresql":
        return _migrate(engine)
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        try:
            return _migrate(engine)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            lock.commit()


_MIGRATION_LOCK = 0x0D0551E5  # any constant shared by every Dossier process


def _migrate(engine: Engine) -> list[str]:
    done: list[str] = []
    with engine.begin() as conn:
        _applied.create(conn, checkfirst=True)
        applied = set(conn.scalars(select(_applied.c.name)))
    for name, step in MIGRATIONS:
        if name in applied:
            continue
        try:
            with engine.begin() as conn:
                if conn.scalar(select(_applied.c.name).where(_applied.c.name == name)):
                    continue  # another replica applied it meanwhile
                step(conn)
                conn.execute(_applied.insert().values(name=name, applied_at=dt.datetime.now(dt.UTC)))
        except IntegrityError:  # a replica starting at the same moment recorded it first; ours rolled back
            continue
        log.info("applied database migration %s", name)
        done.append(name)
    return done


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
    """Write-ahead log: readers (the API, other processes) never wait for a writer, and a commit appends to the
    log instead of syncing the database file (`synchronous=NORMAL`: still atomic, and durable at checkpoints)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Engine for `url`, migrated to this version (SQLite's folder is created when missing)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine
