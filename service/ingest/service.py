"""Ingestion: validate, segment into sentences, embed, store; idempotent and never half-written."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from service.core.segment import passage_id, segment
from service.domain.access import DEFAULT_COLLECTION, check_collection
from service.domain.errors import DossierError, InvalidInput, PayloadTooLarge
from service.domain.models import Document, DocumentMeta, Passage, Sentence
from service.domain.ports import DocumentRepository, Embedder, LexicalIndex, PassageIndex

log = logging.getLogger(__name__)

Loader = Callable[[str, bytes, int], str]
IngestStatus = Literal["created", "replaced", "unchanged"]


MAX_KEY_CHARS = 1024  # the source_key column's size
_SCOPED = "collection:"


def document_id(text: str, collection: str = DEFAULT_COLLECTION) -> str:
    """Content-derived id: the same text in the same collection always gets the same id (the same text in two
    collections is two documents, so deleting one never touches the other)."""
    scoped = text if collection == DEFAULT_COLLECTION else f"{collection}\x00{text}"  # texts hold no NUL (checked)
    return "doc_" + hashlib.sha256(scoped.encode("utf-8")).hexdigest()[:20]


def scoped_key(collection: str, key: str) -> str:
    """A source key within its collection: one team's `report.txt` never replaces another's. The default
    collection keeps the keys it had before collections, unless one looks scoped (then it is scoped too)."""
    if collection == DEFAULT_COLLECTION and not key.startswith(_SCOPED):
        return key
    return f"{_SCOPED}{collection}|{key}"


@dataclass
class IngestResult:
    """What one ingestion did."""

    document: Document
    status: IngestStatus
    replaced_id: str | None = None


@dataclass
class _Prepared:
    """A validated, segmented document waiting for its embeddings."""

    doc: Document
    passages: list[Passage]


EMBED_BATCH = 256  # passages embedded in one call when ingesting many files


@dataclass
class IngestFailure:
    """A file of a batch that could not be ingested, and why."""

    path: str
    error: str


class IngestService:
    """Stores reports verbatim with sentence offsets, embeddings and metadata.

    Document ids derive from content, passage ids from document id and sentence number, so
    re-ingesting unchanged text is a no-op. A changed text under the same source key replaces the old
    document and its passages. Passages are written before the document row; a crash in between
    leaves orphans that retrieval ignores and `reconcile()` removes. Concurrent ingests of one text or
    one key are settled by the repository in the database (see `DocumentRepository.save`).
    """

    def __init__(
        self,
        repo: DocumentRepository,
        index: PassageIndex,
        lexical: LexicalIndex,
        embedder: Embedder,
        loader: Loader,
        max_bytes: int,
    ) -> None:
        self._repo = repo
        self._index = index
        self._lexical = lexical
        self._embedder = embedder
        self._loader = loader
        self._max_bytes = max_bytes

    def ingest_text(
        self, text: str, meta: DocumentMeta, source_key: str | None = None, collection: str = DEFAULT_COLLECTION
    ) -> IngestResult:
        """Ingest raw text into `collection`. `source_key` names the report across versions (path, URL, key)."""
        return self._embed_and_store(self._prepare(text, meta, source_key, collection))

    def ingest_bytes(
        self,
        filename: str,
        data: bytes,
        meta: DocumentMeta,
        source_key: str | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> IngestResult:
        """Ingest an uploaded file (.txt, .md, .html, .pdf).

        Its identity is the caller's key, else its URL, else its source and file name together: a bare file name
        names nothing (two unrelated `report.txt` never replace each other), so such an upload is keyed by content.
        """
        return self._embed_and_store(self._prepare_bytes(filename, data, meta, source_key, collection))

    def ingest_paths(
        self,
        paths: Iterable[Path],
        meta: DocumentMeta | None = None,
        on_progress: Callable[[Path, IngestResult | IngestFailure], None] | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> tuple[list[IngestResult], list[IngestFailure]]:
        """Ingest files; a failing file is reported and the batch goes on. Re-running resumes.

        The passages of several files are embedded in one call (up to `EMBED_BATCH`): the encoder is much faster
        on full batches than on one report's few sentences. Each file is still stored on its own, its document
        row last, so a crash leaves only orphan passages that `reconcile()` removes."""
        results: list[IngestResult] = []
        failures: list[IngestFailure] = []
        queued: list[tuple[Path, _Prepared | IngestResult | IngestFailure]] = []

        def flush() -> None:
            batch = [p for _, r in queued if isinstance(r, _Prepared) for p in r.passages]
            vectors: list[list[float]] = []
            together = True
            try:
                vectors = self._embedder.embed_documents([p.text for p in batch]) if batch else []
                # every file's passages in one write; a text repeated in the batch has the same passage ids: once
                unique = {p.id: (p, v) for p, v in zip(batch, vectors, strict=True)}
                if unique:
                    self._index.upsert([p for p, _ in unique.values()], [v for _, v in unique.values()])
            except DossierError as exc:  # one file's trouble must not fail the others: each is tried alone
                log.warning("embedding %d files together failed (%s); trying them one by one", len(queued), exc)
                together = False
            at = 0
            for path, ready in queued:
                outcome: IngestResult | IngestFailure
                if isinstance(ready, _Prepared):
                    n = len(ready.passages)
                    try:
                        outcome = (
                            self._store(ready, vectors[at : at + n], indexed=True)
                            if together
                            else self._embed_and_store(ready)
                        )
                    except DossierError as exc:
                        outcome = IngestFailure(str(path), exc.message)
                    at += n
                else:
                    outcome = ready
                if isinstance(outcome, IngestResult):
                    results.append(outcome)
                else:
                    failures.append(outcome)
                if on_progress:
                    on_progress(path, outcome)
            queued.clear()

        size = 0
        for path in paths:
            prepared: _Prepared | IngestResult | IngestFailure
            try:
                file_meta = _front_matter(path, (meta or DocumentMeta()).model_copy())
                prepared = self._prepare_bytes(
                    path.name, path.read_bytes(), file_meta, f"file:{path.resolve()}", collection
                )
            except (DossierError, OSError) as exc:
                prepared = IngestFailure(str(path), getattr(exc, "message", str(exc)))
            queued.append((path, prepared))
            size += len(prepared.passages) if isinstance(prepared, _Prepared) else 0
            if size >= EMBED_BATCH or len(queued) >= EMBED_BATCH:
                flush()
                size = 0
        flush()
        return results, failures

    def _prepare_bytes(
        self, filename: str, data: bytes, meta: DocumentMeta, source_key: str | None, collection: str
    ) -> _Prepared | IngestResult:
        text = self._loader(filename, data, self._max_bytes)
        if not meta.title:
            meta = meta.model_copy(update={"title": Path(filename).stem.replace("_", " ")})
        if source_key is None and meta.url is None and meta.source:
            source_key = f"upload:{meta.source}/{Path(filename).name}"
        return self._prepare(text, meta, source_key, collection)

    def _prepare(
        self, text: str, meta: DocumentMeta, source_key: str | None, collection: str
    ) -> _Prepared | IngestResult:
        """Validate and segment; an unchanged text is its stored result at once."""
        try:
            check_collection(collection)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        if len(text.encode("utf-8")) > self._max_bytes:
            raise PayloadTooLarge(f"text is {len(text.encode('utf-8'))} bytes; the limit is {self._max_bytes}")
        if not text.strip():
            raise InvalidInput("text is empty or whitespace only")
        if "\x00" in text:
            raise InvalidInput("text contains NUL characters")
        doc_id = document_id(text, collection)
        existing = self._repo.get(doc_id)
        if existing is not None:
            return IngestResult(existing, "unchanged")
        sentences = segment(text)
        if not sentences:
            raise InvalidInput("text contains no sentences")
        key = scoped_key(collection, source_key or meta.url or f"text:{doc_id}")
        if len(key) > MAX_KEY_CHARS:
            raise InvalidInput(
                f"the document key (key, url or source + file name) is {len(key)} characters; "
                f"the limit is {MAX_KEY_CHARS}"
            )
        title = (meta.title or text[sentences[0].start : sentences[0].end])[:300]
        doc = Document(
            id=doc_id,
            source_key=key,
            title=title,
            source=meta.source,
            url=meta.url,
            published=meta.published,
            text=text,
            sentence_count=len(sentences),
            created_at=dt.datetime.now(dt.UTC),
            collection=collection,
        )
        return _Prepared(doc, self._passages(doc, sentences))

    def _embed_and_store(self, ready: _Prepared | IngestResult) -> IngestResult:
        if isinstance(ready, IngestResult):
            return ready
        return self._store(ready, self._embedder.embed_documents([p.text for p in ready.passages]))

    def _store(self, ready: _Prepared, vectors: list[list[float]], *, indexed: bool = False) -> IngestResult:
        """Passages into both indexes (the vector one unless `indexed` already), then the document row (the commit
        point)."""
        doc, passages = ready.doc, ready.passages
        doc_id = doc.id
        if not indexed:  # idempotent: a concurrent ingest of this text writes the same ids
            self._index.upsert(passages, vectors)
        try:
            self._lexical.upsert(passages)
            outcome = self._repo.save(doc)
        except Exception:
            if self._repo.get(doc_id) is None:  # never remove passages a concurrent request stored with its row
                self._drop(doc_id)
            raise
        if outcome.status == "unchanged":
            return IngestResult(self._repo.get(doc_id) or doc, "unchanged")
        for old in outcome.replaced:
            self._drop(old)
            log.info("replaced %s with %s (%s)", old, doc_id, doc.source_key)
        return IngestResult(doc, outcome.status, outcome.replaced[0] if outcome.replaced else None)

    def delete(self, doc_id: str) -> bool:
        """Delete a document and its passages; it is never retrieved again."""
        existed = self._repo.delete(doc_id)
        self._drop(doc_id)
        return existed

    def _drop(self, doc_id: str) -> None:
        self._index.delete_document(doc_id)
        self._lexical.delete_document(doc_id)

    def reconcile(self) -> Reconciled:
        """Repair the store in both directions: remove passages whose document row is missing (a crash mid-ingest),
        and re-index, from the stored text, documents whose passages are missing or incomplete."""
        docs = {d.id: d for d in self._repo.list()}
        per_doc = Counter(p.document_id for p in self._index.all_passages())
        lexical = self._lexical.counts()
        orphans = (set(per_doc) | set(lexical)) - set(docs)
        for doc_id in orphans:
            self._drop(doc_id)
        broken = []
        for doc in docs.values():
            have = per_doc.get(doc.id, 0)
            if have == doc.sentence_count and lexical.get(doc.id, 0) == have:
                continue
            passages = self._passages(doc)
            if have == len(passages) and lexical.get(doc.id, 0) == have:
                continue  # indexed with today's segmentation; its stored count predates it
            log.warning(
                "re-indexing %s: %d vector and %d lexical of %d passages",
                doc.id,
                have,
                lexical.get(doc.id, 0),
                len(passages),
            )
            broken.append(doc)
            self._drop(doc.id)
            self._index.upsert(passages, self._embedder.embed_documents([p.text for p in passages]))
            self._lexical.upsert(passages)
        return Reconciled(orphans=len(orphans), reindexed=len(broken))

    @staticmethod
    def _passages(doc: Document, sentences: list[Sentence] | None = None) -> list[Passage]:
        """The document's passages: one per sentence (segmented again unless given; pysbd is not cheap)."""
        return [
            Passage(
                id=passage_id(doc.id, s.index),
                document_id=doc.id,
                index=s.index,
                start=s.start,
                end=s.end,
                text=doc.text[s.start : s.end],
                title=doc.title,
                source=doc.source,
                published=doc.published,
                collection=doc.collection,
            )
            for s in (segment(doc.text) if sentences is None else sentences)
        ]


@dataclass
class Reconciled:
    """What a reconciliation repaired."""

    orphans: int
    reindexed: int


def _front_matter(path: Path, meta: DocumentMeta) -> DocumentMeta:
    """Merge a sidecar `<name>.meta.json` (title, source, url, published) when present."""
    sidecar = path.with_suffix(".meta.json")
    if sidecar.exists():
        extra = DocumentMeta.model_validate_json(sidecar.read_text(encoding="utf-8"))
        return meta.model_copy(update=extra.model_dump(exclude_none=True))
    return meta


def expand_paths(paths: Iterable[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files named directly, plus supported files under named folders (sorted, recursive)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes))
        else:
            out.append(p)
    return out
