"""The lexical (BM25) index inside the SQL database, written per document: SQLite FTS5 with its `bm25()` for the
embedded default, Postgres full-text search (`tsvector`, GIN index, `ts_rank`) when the database is Postgres.

Each passage is one row of `lexical_passages` (its metadata, for filters, and `terms`: the passage's text, which the
engine tokenises and stems itself: FTS5's `porter` tokenizer, Postgres's `english` configuration; Dossier keeps no
stemmer or stopword list of its own). On SQLite an FTS5 table indexes `terms` as external content, kept in step by
triggers. Writing or deleting a document touches only its rows; nothing is rebuilt per corpus,
and every replica reads the same index.

On a large SQLite corpus (`large_corpus` passages or more) a query does not score every passage that shares a common
word with it: as Lucene's common-terms query and Elasticsearch's `cutoff_frequency` do, terms found in more
than `common_share` of the passages (counted by FTS5 itself, up to that cutoff) only add to the score of passages
that a rarer query term selected; a query of common terms only requires all of them, and when even those would be
more than `score_budget` passages to score, the newest of them are taken unranked (the vector search ranks
alongside). Below that size every term selects, as exact BM25 over all matches is cheap there.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Date, Integer, String, Text, delete, func, select, text
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.adapters.sql.base import Base, derived_from_document
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
    "content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS lexical_ai AFTER INSERT ON lexical_passages BEGIN "
    "INSERT INTO lexical_fts(rowid, terms) VALUES (new.rowid, new.terms); END",
    "CREATE TRIGGER IF NOT EXISTS lexical_ad AFTER DELETE ON lexical_passages BEGIN "
    "INSERT INTO lexical_fts(lexical_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms); END",
]
SQLITE_VOCAB_DDL = "CREATE VIRTUAL TABLE IF NOT EXISTS lexical_vocab USING fts5vocab(lexical_fts, 'row')"
LARGE_CORPUS = 20_000  # passages: from here on, common query terms no longer select passages (module docstring)
COMMON_SHARE = 0.01  # a term in more than this share of the passages is common
SCORE_BUDGET = 10_000  # passages a common-terms-only query may score; beyond it, the newest that match
SIZE_TTL_S = 60.0  # how long the passage count and term frequencies used for that decision are reused
DF_CACHE_SIZE = 50_000  # terms whose frequency is kept; the cache starts again beyond it
_TOKEN = re.compile(r"[^\W_]+")  # FTS5 unicode61's tokens: runs of letters and digits
POSTGRES_DDL = [
    "ALTER TABLE lexical_passages ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', terms)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_lexical_tsv ON lexical_passages USING GIN (tsv)",
]


def create_engine_index(conn: Connection) -> None:
    """The engine's own full-text index over `lexical_passages.terms` (a migration step)."""
    Base.metadata.tables["lexical_passages"].create(conn, checkfirst=True)
    for ddl in SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRES_DDL:
        conn.execute(text(ddl))


def create_vocabulary(conn: Connection) -> None:
    """FTS5's table of document frequencies per term, read to tell common query terms (a migration step)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text(SQLITE_VOCAB_DDL))


def _fts_string(words: Sequence[str], op: str) -> str:
    """Words as FTS5 strings (tokenised like `terms`), joined by `op`."""
    return f" {op} ".join('"' + w.replace('"', '""') + '"' for w in words)


def query_terms(query: str) -> list[str]:
    """The query's distinct words, lower-cased, split at white space and trimmed of punctuation at either end (each
    is quoted for the engine, so `f-35` and `u.s` stay one term, a phrase of their tokens)."""
    words = (w.strip("\"'.,;:!?()[]{}<>") for w in query.lower().split())
    return list(dict.fromkeys(w for w in words if _TOKEN.search(w)))


def rebuild_engine_index(conn: Connection) -> None:
    """The engine's own tokenizer and stemmer index the passage text (a migration step): `terms` becomes the text,
    and the FTS5 table (porter) or the Postgres `tsvector` (english) is built again from it."""
    conn.execute(text("UPDATE lexical_passages SET terms = text"))
    if conn.dialect.name == "sqlite":
        for ddl in (
            "DROP TABLE IF EXISTS lexical_vocab",
            "DROP TRIGGER IF EXISTS lexical_ai",
            "DROP TRIGGER IF EXISTS lexical_ad",
            "DROP TABLE IF EXISTS lexical_fts",
        ):
            conn.execute(text(ddl))
        for ddl in SQLITE_DDL:
            conn.execute(text(ddl))
        conn.execute(text("INSERT INTO lexical_fts(lexical_fts) VALUES ('rebuild')"))
    else:
        conn.execute(text("DROP INDEX IF EXISTS ix_lexical_tsv"))
        conn.execute(text("ALTER TABLE lexical_passages DROP COLUMN IF EXISTS tsv"))
        for ddl in POSTGRES_DDL:
            conn.execute(text(ddl))


class SqlLexicalIndex:
    """LexicalIndex over the SQL database (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        large_corpus: int = LARGE_CORPUS,
        common_share: float = COMMON_SHARE,
        score_budget: int = SCORE_BUDGET,
    ) -> None:
        self._engine = engine
        self._score_budget = score_budget
        self._sqlite = engine.dialect.name == "sqlite"
        self._large_corpus = large_corpus
        self._common_share = common_share
        self._size = (0, -SIZE_TTL_S)  # (passages, when counted)
        self._df: dict[str, tuple[int, float]] = {}  # token -> (passages holding it, when counted)

    def upsert(self, passages: Sequence[Passage]) -> None:
        """Insert or replace passages (by id), in one transaction."""
        if not passages:
            return
        rows = [
            {
                "passage_id": p.id,
                "document_id": p.document_id,
                "collection": p.collection,
                "idx": p.index,
                "start": p.start,
                "stop": p.end,
                "text": p.text,
                "title": p.title,
                "source": p.source,
                "published": p.published,
                "terms": p.text,
            }
            for p in passages
        ]
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

    def search(self, query: str, n: int, flt: RetrievalFilter | None) -> list[Passage]:
        """The `n` best passages for `query` by the engine's ranking, within the filter."""
        words = query_terms(query)
        if not words:
            return []
        where, extra = _filter_sql(flt)
        with self._engine.connect() as conn:
            if self._sqlite:
                rows = self._sqlite_search(conn, words, n, where, extra)
            else:
                sql = "SELECT p.* FROM lexical_passages p WHERE p.tsv @@ to_tsquery('english', :q)"
                order = " ORDER BY ts_rank(p.tsv, to_tsquery('english', :q)) DESC, p.passage_id LIMIT :n"
                tokens = dict.fromkeys(t for w in words for t in _TOKEN.findall(w))
                q = " | ".join("'" + t.replace("'", "''") + "'" for t in tokens)
                rows = list(conn.execute(text(sql + where + order), {"q": q, "n": n, **extra}).mappings())
        return [
            Passage(
                id=r["passage_id"],
                document_id=r["document_id"],
                index=r["idx"],
                start=r["start"],
                end=r["stop"],
                text=r["text"],
                title=r["title"],
                source=r["source"],
                published=_date(r["published"]),
                collection=r["collection"],
            )
            for r in rows
        ]

    def _sqlite_search(
        self, conn: Connection, words: list[str], n: int, where: str, extra: dict[str, object]
    ) -> list[RowMapping]:
        """FTS5 `bm25()`: every term selects on a small corpus; on a large one, rare terms select and common ones
        add to the score, or, with no rare term, all common terms are required (module docstring)."""

        def run(q: str, limit: int, ranked: bool = True) -> list[RowMapping]:
            sql = _fts_sql(bool(where) or not large, ranked, where)
            return list(conn.execute(text(sql), {"q": q, "n": limit, **extra}).mappings())

        size = self._passages(conn)
        large = size >= self._large_corpus
        if not large:
            return run(_fts_string(words, "OR"), n)
        df = self._document_frequencies(conn, words, int(self._common_share * size) + 1)
        common = [w for w in words if df[w] > self._common_share * size]
        rare = [w for w in words if w not in common]
        if not common:
            return run(_fts_string(words, "OR"), n)
        # bm25() adds a score per phrase of the query: the common terms are written twice in the second group, as
        # the rare ones are in both, so every score is twice plain BM25's and the order is the same.
        rows = run(f"({_fts_string(rare, 'OR')}) AND ({_fts_string(rare + common + common, 'OR')})", n) if rare else []
        if len(rows) < n:
            # Passages holding every common term; when they are too many to score (FTS5 counts them, up to one
            # past the budget), the newest of them, unranked.
            every = _fts_string(common, "AND")
            many = _count(conn, every, self._score_budget + 1) > self._score_budget
            more = run(every, n, ranked=not many)
            seen = {r["passage_id"] for r in rows}
            rows += [r for r in more if r["passage_id"] not in seen][: n - len(rows)]
        return rows

    def _document_frequencies(self, conn: Connection, words: list[str], cap: int) -> dict[str, int]:
        """Passages holding each word (stemmed by FTS5 as the index is), counted by FTS5 itself up to `cap`: past
        the cutoff the exact count does not matter, so a common word costs at most `cap` rows to count. Each count
        is kept a minute."""
        now = time.monotonic()
        if len(self._df) > DF_CACHE_SIZE:
            self._df.clear()
        out: dict[str, int] = {}
        for w in words:
            hit = self._df.get(f"{cap}:{w}")  # another thread may clear the cache meanwhile: read it once
            if hit is None or now - hit[1] >= SIZE_TTL_S:
                hit = (_count(conn, _fts_string([w], "AND"), cap), now)
                self._df[f"{cap}:{w}"] = hit
            out[w] = hit[0]
        return out

    def _passages(self, conn: Connection) -> int:
        """How many passages the index holds, counted at most once a minute."""
        count, at = self._size
        if time.monotonic() - at >= SIZE_TTL_S:
            count = int(conn.execute(text("SELECT count(*) FROM lexical_passages")).scalar_one())
            self._size = (count, time.monotonic())
        return count


def _count(conn: Connection, q: str, cap: int) -> int:
    """Passages matching the FTS5 query `q`, counted up to `cap` (reading at most `cap` rows)."""
    sql = "SELECT count(*) FROM (SELECT rowid FROM lexical_fts WHERE lexical_fts MATCH :q LIMIT :cap)"
    return int(conn.execute(text(sql), {"q": q, "cap": cap}).scalar_one())


def _fts_sql(join_first: bool, ranked: bool, where: str) -> str:
    """The FTS5 query: joined to the rows before ranking when a filter needs their columns (or, on a small corpus,
    to break ties by passage id), else ranked in the FTS5 table alone and only the kept rows read. Unranked: the
    newest rows first (`rowid DESC`, which FTS5 reads in that order and stops after `n`)."""
    joined = (
        "SELECT p.* FROM lexical_fts JOIN lexical_passages p ON p.rowid = lexical_fts.rowid "
        f"WHERE lexical_fts MATCH :q{where}"
    )
    if not ranked:
        return joined + " ORDER BY lexical_fts.rowid DESC LIMIT :n"
    if join_first:
        return joined + " ORDER BY bm25(lexical_fts), p.passage_id LIMIT :n"
    return (
        "SELECT p.* FROM (SELECT rowid, bm25(lexical_fts) AS score FROM lexical_fts WHERE lexical_fts MATCH :q "
        "ORDER BY score, rowid LIMIT :n) f JOIN lexical_passages p ON p.rowid = f.rowid "
        "ORDER BY f.score, f.rowid"
    )


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
