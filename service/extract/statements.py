"""Reports' statements and the pairs of them worth judging: what disagreements and corroboration share.

A statement is the sentence holding the evidence of a stored claim, quantity or event fact (the whole sentence,
verbatim: a quantity's evidence is the number alone, a claim's may be a part of its sentence). Pairs of sentences
from different reports are candidates when they are near by embedding (each sentence with its few nearest in other
reports; identical sentences aside), nearest first. A pair is judged by the model once (`PairJudge`, kept between
requests); a request judges at most `max_pairs` new pairs, so asking again goes on where the last request stopped.
Sentences whose texts are the same (case and spacing aside) are never a candidate pair: a copy is not a judgement.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from service.core.comparing import Judgement, PairJudge
from service.core.segment import segment
from service.domain.errors import ModelOutputInvalid
from service.domain.facts import ClaimSide, Evidence, Fact
from service.domain.ports import DocumentRepository, Embedder
from service.extract.service import ExtractService

KINDS = ("claims", "quantities", "events")
NEIGHBOURS = 3  # each sentence's nearest sentences in other reports that are judged with it
VECTOR_CACHE = 100_000
SMALL_CACHE = 64  # reports' sentence offsets and the candidate pairs of the last sets of statements


@dataclass(frozen=True)
class Statement:
    """A report's sentence that states a stored fact; `source` is who said it independently: the report's
    publisher when it names one, else the report itself."""

    side: ClaimSide
    order: tuple[dt.date, str, int]
    source: str

    @property
    def plain(self) -> str:
        """The sentence with case and spacing aside: two statements with the same `plain` are copies."""
        return " ".join(self.side.evidence.text.lower().split())


@dataclass(frozen=True)
class JudgedPair:
    """Two statements of different reports, earlier report first, the model's judgement of them, its calibrated
    P(contradict) and P(agree), and their places in the list of statements they were judged from."""

    a: Statement
    b: Statement
    judgement: Judgement
    at: tuple[int, int]
    contradict: float
    agree: float


@dataclass(frozen=True)
class Statements:
    """The statements a caller sees, and which statement each fact's evidence lies in (document id, kind, evidence
    start)."""

    items: list[Statement]
    of_fact: dict[tuple[str, str, int], int]

    def index_of(self, document_id: str, fact: Fact) -> int | None:
        """The statement holding `fact`'s first evidence span, None when the fact is not a statement."""
        return self.of_fact.get((document_id, fact.kind, fact.evidence[0].start)) if fact.evidence else None


class StatementPairs:
    """Statements of stored facts across reports, their candidate pairs, and the judging of them."""

    def __init__(
        self,
        extract: ExtractService,
        repo: DocumentRepository,
        embedder: Embedder,
        judge: PairJudge,
        *,
        schema_id: str,
        max_pairs: int = 30,
    ) -> None:
        self._extract = extract
        self._repo = repo
        self._embedder = embedder
        self.judge = judge
        self._schema_id = schema_id
        self.max_pairs = max_pairs
        self._lock = threading.Lock()
        self._vectors: dict[str, list[float]] = {}
        self._sentences: dict[str, list[tuple[int, int]]] = {}
        self._candidates: dict[tuple[tuple[str, int, int], ...], list[tuple[int, int]]] = {}

    def statements(self, collections: list[str] | None) -> Statements:
        """The statements of the reports in `collections` (None: all), one per sentence."""
        docs = {d.id: d for d in self._repo.list(collections)}
        sentences: dict[str, list[tuple[int, int]]] = {}  # a report's id names its text: its offsets never change
        index: dict[tuple[str, int, int], int] = {}
        of_fact: dict[tuple[str, str, int], int] = {}
        out: list[Statement] = []
        for doc_id, title, _, fact in self._extract.query(self._schema_id, collections=collections):
            doc, kind = docs.get(doc_id), fact.kind
            if kind not in KINDS or doc is None or not fact.evidence:
                continue
            if doc_id not in sentences:
                sentences[doc_id] = self._sentences_of(doc_id, doc.text)
            at = fact.evidence[0].start
            start, end = next(((a, b) for a, b in sentences[doc_id] if a <= at < b), (at, fact.evidence[0].end))
            if (doc_id, start, end) not in index:
                index[(doc_id, start, end)] = len(out)
                reported = doc.published or doc.created_at.date()
                ev = Evidence(document_id=doc_id, start=start, end=end, text=doc.text[start:end], grounding="sentence")
                side = ClaimSide(document_id=doc_id, document_title=title, reported=reported, kind=kind, evidence=ev)
                source = f"source:{doc.source.strip().casefold()}" if doc.source and doc.source.strip() else doc_id
                out.append(Statement(side, (reported, doc_id, start), source))
            of_fact[(doc_id, fact.kind, at)] = index[(doc_id, start, end)]
        return Statements(out, of_fact)

    def candidates(self, statements: Sequence[Statement]) -> list[tuple[int, int]]:
        """Pairs from different reports, each sentence with its `NEIGHBOURS` nearest (copies aside), nearest
        first. Kept for the last sets of statements: the next page of the same facts costs nothing."""
        key = tuple((s.side.document_id, s.side.evidence.start, s.side.evidence.end) for s in statements)
        with self._lock:
            found = self._candidates.get(key)
        if found is not None:
            return found
        found = self._nearest(statements)
        with self._lock:
            if len(self._candidates) >= SMALL_CACHE:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def _nearest(self, statements: Sequence[Statement]) -> list[tuple[int, int]]:
        if len(statements) < 2:
            return []
        vectors = np.asarray(self._vectors_of([s.side.evidence.text for s in statements]), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)
        owners = np.asarray([s.side.document_id for s in statements])
        texts = np.asarray([s.plain for s in statements])
        k = min(NEIGHBOURS, len(statements) - 1)
        best: dict[tuple[int, int], float] = {}
        for start in range(0, len(statements), 1024):  # a block of rows at a time: memory O(block x sentences)
            sims = vectors[start : start + 1024] @ vectors.T
            for row, line in enumerate(sims):
                i = start + row
                line[(owners == owners[i]) | (texts == texts[i])] = -np.inf  # never one report's, never a copy
                for j in np.argpartition(-line, k - 1)[:k].tolist():
                    if np.isfinite(line[j]):
                        best[(min(i, j), max(i, j))] = float(line[j])
        return sorted(best, key=lambda p: (-best[p], p))

    def judged(
        self, statements: Sequence[Statement], pairs: Iterable[tuple[int, int]]
    ) -> tuple[list[JudgedPair], list[tuple[int, int]]]:
        """The judged pairs among `pairs` (kept judgements, and at most `max_pairs` new ones, in the order given),
        each with its calibrated probabilities, and the pairs left unjudged for the next request. An endpoint
        without log-probabilities stops it at the first new pair (a coded error): nothing can be decided without
        them."""
        out: list[JudgedPair] = []
        left: list[tuple[int, int]] = []
        budget = self.max_pairs
        for i, j in pairs:
            a, b = sorted((statements[i], statements[j]), key=lambda s: s.order)
            known = self.judge.known(a.side.evidence.text, b.side.evidence.text)
            if known is None and budget <= 0:
                left.append((i, j))
                continue
            judgement = known or self.judge.judge(a.side.evidence.text, b.side.evidence.text)
            contradict = self.judge.confidence(judgement.signals)
            agree = self.judge.agreement(judgement.signals)
            if contradict is None or agree is None:
                raise ModelOutputInvalid(
                    "the model endpoint returns no log-probabilities, which disagreements and corroboration are "
                    "decided from"
                )
            out.append(JudgedPair(a, b, judgement, (i, j), contradict, agree))
            budget -= known is None
        return out, left

    def _sentences_of(self, doc_id: str, text: str) -> list[tuple[int, int]]:
        with self._lock:
            found = self._sentences.get(doc_id)
        if found is None:
            found = [(x.start, x.end) for x in segment(text)]
            with self._lock:
                if len(self._sentences) >= 100 * SMALL_CACHE:
                    self._sentences.clear()
                self._sentences[doc_id] = found
        return found

    def _vectors_of(self, texts: list[str]) -> list[list[float]]:
        """Each sentence's embedding (kept between requests: the same sentences come back on every request)."""
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = sorted(set(texts) - found.keys())
        if missing:
            found |= dict(zip(missing, self._embedder.embed_documents(missing), strict=True))
            with self._lock:
                if len(self._vectors) + len(missing) > VECTOR_CACHE:
                    self._vectors.clear()
                self._vectors.update({t: found[t] for t in missing})
        return [found[t] for t in texts]
