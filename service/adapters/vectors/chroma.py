"""Chroma passage index: PersistentClient in the data dir, or HttpClient for a Chroma server."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from langchain_chroma import Chroma

from service.domain.access import DEFAULT_COLLECTION
from service.domain.errors import EmbeddingModelMismatch
from service.domain.models import Passage, RetrievalFilter

log = logging.getLogger(__name__)
LAYOUT = 2  # 2: every passage's metadata names its Dossier collection


def make_client(path: Path, url: str | None) -> ClientAPI:
    """HttpClient when a server URL is set (the scale-out path), else an embedded PersistentClient."""
    if url:
        u = urlparse(url)
        return chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000, ssl=u.scheme == "https")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path))


def _date_int(d: dt.date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _metadata(p: Passage) -> dict[str, Any]:
    md: dict[str, Any] = {
        "document_id": p.document_id,
        "index": p.index,
        "start": p.start,
        "end": p.end,
        "title": p.title,
        "collection": p.collection,
    }
    if p.source:
        md["source"] = p.source
    if p.published:
        md["published"] = _date_int(p.published)
    return md


TEXT = "text"  # the metadata key holding a passage's text; stores written before 2026-12-07 keep it as the document


def _passage(pid: str, document: str | None, md: dict[str, Any]) -> Passage:
    pub = md.get("published")
    text = md.get(TEXT)
    if not isinstance(text, str):
        text = document or ""
    return Passage(
        id=pid,
        document_id=str(md["document_id"]),
        index=int(md["index"]),
        start=int(md["start"]),
        end=int(md["end"]),
        text=text,
        title=str(md.get("title", "")),
        source=md.get("source"),
        published=dt.date(pub // 10000, pub // 100 % 100, pub % 100) if pub else None,
        collection=str(md.get("collection", DEFAULT_COLLECTION)),
    )


def where_clause(flt: RetrievalFilter | None) -> dict[str, Any] | None:
    """Translate a RetrievalFilter into Chroma's `where` syntax."""
    if flt is None:
        return None
    conds: list[dict[str, Any]] = []
    if flt.collections is not None:
        conds.append({"collection": {"$in": list(flt.collections)}})
    if flt.document_ids is not None:
        conds.append({"document_id": {"$in": list(flt.document_ids)}})
    if flt.source is not None:
        conds.append({"source": {"$eq": flt.source}})
    if flt.published_from is not None:
        conds.append({"published": {"$gte": _date_int(flt.published_from)}})
    if flt.published_to is not None:
        conds.append({"published": {"$lte": _date_int(flt.published_to)}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


PAGE = 5000  # passages per `get` when reading the whole collection


class ChromaPassageIndex:
    """PassageIndex over a Chroma collection, driven through LangChain's `Chroma` vector store.

    The embedding model's name is stored in the collection metadata; opening the collection with
    another model raises EmbeddingModelMismatch instead of mixing vector spaces.
    """

    def __init__(self, client: ClientAPI, collection: str, embedder_name: str) -> None:
        self._client = client
        existing = {c.name for c in client.list_collections()}
        if collection in existing:
            stored = (client.get_collection(collection).metadata or {}).get("embedding_model")
            if stored and stored != embedder_name:
                raise EmbeddingModelMismatch(
                    f"collection {collection!r} was built with embedding model {stored!r} but "
                    f"{embedder_name!r} is configured; set DOSSIER_COLLECTION to a new name and re-ingest, "
                    f"or configure {stored!r} again"
                )
        self._store = Chroma(
            collection_name=collection,
            embedding_function=None,  # Dossier embeds; the store only searches by vector
            client=client,
            collection_metadata={"embedding_model": embedder_name, "layout": LAYOUT},
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        self._collection = client.get_collection(collection)
        self._backfill_collections()

    def _backfill_collections(self) -> None:
        """Passages stored before collections existed belong to the default one (metadata only, no re-embedding)."""
        meta = dict(self._collection.metadata or {})
        if meta.get("layout", 1) >= LAYOUT:
            return
        got = self._collection.get(include=["metadatas"])
        pairs = zip(got["ids"], got.get("metadatas") or [], strict=True)
        stale = [(i, dict(m)) for i, m in pairs if "collection" not in m]
        for start in range(0, len(stale), 1000):
            chunk = stale[start : start + 1000]
            self._collection.update(
                ids=[i for i, _ in chunk], metadatas=[{**m, "collection": DEFAULT_COLLECTION} for _, m in chunk]
            )
        if stale:
            log.warning("assigned %d passages stored before collections to %r", len(stale), DEFAULT_COLLECTION)
        self._collection.modify(metadata={**meta, "layout": LAYOUT})

    def upsert(self, passages: Sequence[Passage], embeddings: Sequence[Sequence[float]]) -> None:
        if not passages:
            return
        self._collection.upsert(
            ids=[p.id for p in passages],
            # The text rides in the metadata, not as Chroma's document: a document is also indexed for Chroma's
            # full-text search (a trigram index Dossier never queries), which cost 40 % of the write. An empty
            # document keeps the record visible to LangChain's search, which drops records without one.
            documents=[""] * len(passages),
            metadatas=[{**_metadata(p), TEXT: p.text} for p in passages],
            embeddings=[list(e) for e in embeddings],  # type: ignore[arg-type]
        )

    def delete_document(self, document_id: str) -> None:
        self._collection.delete(where={"document_id": document_id})

    def search(self, vector: Sequence[float], k: int, flt: RetrievalFilter | None) -> list[tuple[Passage, float]]:
        # Chroma (1.x) returns what it has when asked for more, or nothing from an empty collection: counting
        # first cost a scan of its records on every query (15 ms at 100k passages, 110 ms at a million).
        hits = self._store.similarity_search_by_vector_with_relevance_scores(
            list(vector), k=k, filter=where_clause(flt)
        )
        return [
            (_passage(str(doc.id), doc.page_content, dict(doc.metadata)), min(1.0, max(0.0, 1.0 - float(dist))))
            for doc, dist in hits
        ]

    def all_passages(self) -> list[Passage]:
        """Every passage, a page at a time: one `get` of a whole large collection fails in embedded Chroma (at
        100k passages: "too many SQL variables")."""
        out: list[Passage] = []
        while True:
            got = self._collection.get(include=["documents", "metadatas"], limit=PAGE, offset=len(out))
            docs = got.get("documents") or []
            mds = got.get("metadatas") or []
            out += [_passage(i, d, dict(m)) for i, d, m in zip(got["ids"], docs, mds, strict=True)]
            if len(got["ids"]) < PAGE:
                return out

    def count(self) -> int:
        return int(self._collection.count())
