"""Named migrations bring an existing database up to date; deleting a document deletes what derives from it."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sqlalchemy import text

from service.adapters.sql.db import MIGRATIONS, make_engine, migrate
from service.domain.models import DocumentMeta
from tests.conftest import make_container, make_settings

OLD_SCHEMA = """
CREATE TABLE documents (id VARCHAR(64) PRIMARY KEY, source_key VARCHAR(1024), title VARCHAR(1024),
  source VARCHAR(512), url VARCHAR(2048), published DATE, text TEXT, sentence_count INTEGER, created_at DATETIME);
CREATE TABLE extractions (key VARCHAR(64) PRIMARY KEY, document_id VARCHAR(64), schema_id VARCHAR(64),
  payload TEXT, created_at DATETIME);
CREATE TABLE corpus_version (id INTEGER PRIMARY KEY, version INTEGER);
"""


def test_a_database_from_before_migrations_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(OLD_SCHEMA)
    for doc_id, when in (("doc_old", "2026-01-01 00:00:00"), ("doc_new", "2026-02-01 00:00:00")):
        con.execute("INSERT INTO documents VALUES (?, 'desk/7', 't', NULL, NULL, NULL, 'x.', 1, ?)", (doc_id, when))
    con.execute("INSERT INTO extractions VALUES ('k1', 'doc_gone', 's', '{}', '2026-01-01 00:00:00')")
    con.commit()
    con.close()

    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        applied = list(c.scalars(text("SELECT name FROM schema_migrations ORDER BY name")))
        assert applied == [name for name, _ in MIGRATIONS]
        # a key that a race left with two documents keeps the newest; the stale one is gone
        assert list(c.execute(text("SELECT key, document_id FROM source_keys"))) == [("desk/7", "doc_new")]
        assert list(c.scalars(text("SELECT id FROM documents"))) == ["doc_new"]
        assert list(c.scalars(text("SELECT count(*) FROM extractions"))) == [0]  # orphaned extraction removed
        assert {"jobs", "job_items", "summaries", "api_keys"} <= set(c.scalars(text("SELECT name FROM sqlite_master")))
        assert list(c.scalars(text("SELECT collection FROM documents"))) == ["default"]  # 005_collections
        # 007_lexical_index: the stored document's sentences, in the table and in FTS5
        assert list(c.execute(text("SELECT passage_id, text FROM lexical_passages"))) == [("doc_new:00000", "x.")]
        assert list(c.scalars(text("SELECT count(*) FROM lexical_fts"))) == [1]
    assert migrate(make_engine(f"sqlite:///{db}")) == []  # a second start applies nothing and changes nothing
    with engine.connect() as c:
        assert list(c.scalars(text("SELECT count(*) FROM schema_migrations"))) == [len(MIGRATIONS)]


def test_deleting_or_replacing_a_document_deletes_its_summary_and_extractions(tmp_path: Path) -> None:
    c = make_container(make_settings(tmp_path))
    try:
        doc = c.ingest.ingest_text("Iran denied the findings. The panel met in 2020.", DocumentMeta(), "k").document
        with c.engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            conn.execute(text("INSERT INTO summaries VALUES (:d, '{}', :t)"), {"d": doc.id, "t": now})
            conn.execute(text("INSERT INTO extractions VALUES ('e1', :d, 's', '{}', :t)"), {"d": doc.id, "t": now})
        assert c.ingest.delete(doc.id)
        with c.engine.connect() as conn:
            assert list(conn.scalars(text("SELECT count(*) FROM summaries"))) == [0]
            assert list(conn.scalars(text("SELECT count(*) FROM extractions"))) == [0]
        again = c.ingest.ingest_text("Iran denied the findings. The panel met in 2020.", DocumentMeta(), "k").document
        with c.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO summaries VALUES (:d, '{}', :t)"), {"d": again.id, "t": dt.datetime.now(dt.UTC)}
            )
        c.ingest.ingest_text("Iran denied the findings again. The panel met in 2021.", DocumentMeta(), "k")
        with c.engine.connect() as conn:
            assert list(conn.scalars(text("SELECT count(*) FROM summaries"))) == [0]
    finally:
        c.close()


def test_chroma_passages_from_before_collections_join_the_default_one(tmp_path: Path) -> None:
    import chromadb

    from service.adapters.vectors.chroma import ChromaPassageIndex
    from service.domain.models import RetrievalFilter

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    old = client.create_collection(
        "passages", metadata={"embedding_model": "m"}, configuration={"hnsw": {"space": "cosine"}}
    )
    md = {"document_id": "doc_a", "index": 0, "start": 0, "end": 5, "title": "t"}  # no "collection" key
    old.add(ids=["doc_a:0"], documents=["Hello"], metadatas=[md], embeddings=[[1.0, 0.0]])
    index = ChromaPassageIndex(client, "passages", "m")
    assert [p.collection for p in index.all_passages()] == ["default"]
    assert len(index.search([1.0, 0.0], 3, RetrievalFilter(collections=["default"]))) == 1
    assert index.search([1.0, 0.0], 3, RetrievalFilter(collections=["team-a"])) == []
    assert client.get_collection("passages").metadata["layout"] == 2
