"""Disagreements across reports: pairs of reports' statements the model judges incompatible, each side cited.

A statement is the sentence holding the evidence of a stored claim, quantity or event fact (the whole sentence,
verbatim: a quantity's evidence is the number alone, a claim's may be a part of its sentence). Pairs of sentences
from different reports are candidates when they are near by embedding (each sentence with its few nearest in other
reports; identical sentences aside), nearest first. A judgement is two one-token questions on one shared prefix
(the pair, `prompts/compare/vN.yaml`): which relation holds (agree / contradict / unrelated) and whether both can be
true at once. The model's probabilities (read from `top_logprobs`) are turned into P(contradict) by a logistic
regression fit on the dev claim pairs (`prompts/claim_calibrator/vN.yaml`, `dossier calibrate-claims`); a pair is a
disagreement from the threshold up (the calibrator's own, `DOSSIER_DISAGREEMENT_MIN_CONFIDENCE`, or the request's).
Judgements are kept between requests; a request judges at most `max_pairs` new pairs, so asking again goes on
where the last request stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from service.core.comparing import PairJudge
from service.core.segment import segment
from service.domain.errors import ModelOutputInvalid
from service.domain.facts import ClaimSide, Disagreement, Evidence
from service.domain.models import RunMeta
from service.domain.ports import DocumentRepository, Embedder
from service.extract.service import ExtractService

KINDS = ("claims", "quantities", "events")
NEIGHBOURS = 3  # each sentence's nearest sentences in other reports that are judged with it
VECTOR_CACHE = 100_000


@dataclass(frozen=True)
class _Statement:
    side: ClaimSide
    order: tuple[dt.date, str, int]


class DisagreementService:
    """Finds and serves the disagreements between the reports a caller sees."""

    def __init__(
        self,
        extract: ExtractService,
        repo: DocumentRepository,
        embedder: Embedder,
        judge: PairJudge,
        *,
        schema_id: str,
        settings_hash: str,
        min_confidence: float | None = None,
        max_pairs: int = 30,
    ) -> None:
        self._extract = extract
        self._repo = repo
        self._embedder = embedder
        self.judge = judge
        self._schema_id = schema_id
        self._settings_hash = settings_hash
        self._min_confidence = min_confidence
        self._max_pairs = max_pairs
        self._lock = threading.Lock()
        self._vectors: dict[str, list[float]] = {}

    @property
    def default_threshold(self) -> float:
        """The configured threshold, else the calibrator's own (chosen on dev pairs)."""
        return self.judge.calibrator.threshold if self._min_confidence is None else self._min_confidence

    def find(self, collections: list[str] | None, threshold: float | None = None) -> list[Disagreement]:
        """The disagreements between the reports in `collections` (None: all), most confident first, among the
        pairs judged so far (this request judges at most `max_pairs` new ones, nearest first)."""
        cut = self.default_threshold if threshold is None else threshold
        statements = self._statements(collections)
        out: list[Disagreement] = []
        budget = self._max_pairs
        for i, j in self._candidates(statements):
            a, b = sorted((statements[i], statements[j]), key=lambda s: s.order)
            known = self.judge.known(a.side.evidence.text, b.side.evidence.text)
            if known is None and budget <= 0:
                continue  # left for the next request
            judged = known or self.judge.judge(a.side.evidence.text, b.side.evidence.text)
            budget -= known is None
            p = self.judge.confidence(judged.signals)
            if p is None:
                raise ModelOutputInvalid(
                    "the model endpoint returns no log-probabilities, which disagreements are decided from"
                )
            if p < cut:
                continue
            key = "|".join(f"{s.side.document_id}:{s.side.evidence.start}:{s.side.evidence.end}" for s in (a, b))
            out.append(
                Disagreement(
                    id="dis_" + hashlib.sha256(key.encode()).hexdigest()[:16],
                    a=a.side,
                    b=b.side,
                    confidence=p,
                    signals=judged.signals,
                    meta=RunMeta(
                        prompt_id=self.judge.prompt.id,
                        prompt_version=self.judge.prompt.version,
                        model=judged.model,
                        settings_hash=self._settings_hash,
                        calibrator=self.judge.calibrator.ref,
                        usage=judged.usage,
                    ),
                )
            )
        return sorted(out, key=lambda d: (-d.confidence, d.id))

    def _statements(self, collections: list[str] | None) -> list[_Statement]:
        docs = {d.id: d for d in self._repo.list(collections)}
        sentences: dict[str, list[tuple[int, int]]] = {}
        seen: set[tuple[str, int, int]] = set()
        out: list[_Statement] = []
        for doc_id, title, kind, fact in self._extract.query(self._schema_id, collections=collections):
            doc = docs.get(doc_id)
            if kind not in KINDS or doc is None or not fact.evidence:
                continue
            if doc_id not in sentences:
                sentences[doc_id] = [(x.start, x.end) for x in segment(doc.text)]
            at = fact.evidence[0].start
            start, end = next(((a, b) for a, b in sentences[doc_id] if a <= at < b), (at, fact.evidence[0].end))
            if (doc_id, start, end) in seen:
                continue
            seen.add((doc_id, start, end))
            reported = doc.published or doc.created_at.date()
            ev = Evidence(document_id=doc_id, start=start, end=end, text=doc.text[start:end], grounding="sentence")
            side = ClaimSide(document_id=doc_id, document_title=title, reported=reported, kind=kind, evidence=ev)
            out.append(_Statement(side, (reported, doc_id, start)))
        return out

    def _candidates(self, statements: list[_Statement]) -> list[tuple[int, int]]:
        """Pairs from different reports, each sentence with its `NEIGHBOURS` nearest (identical texts aside),
        nearest first."""
        if len(statements) < 2:
            return []
        vectors = np.asarray(self._vectors_of([s.side.evidence.text for s in statements]), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)
        owners = np.asarray([s.side.document_id for s in statements])
        texts = [" ".join(s.side.evidence.text.lower().split()) for s in statements]
        k = min(NEIGHBOURS, len(statements) - 1)
        best: dict[tuple[int, int], float] = {}
        for start in range(0, len(statements), 1024):  # a block of rows at a time: memory O(block x sentences)
            sims = vectors[start : start + 1024] @ vectors.T
            for row, line in enumerate(sims):
                i = start + row
                line[owners == owners[i]] = -np.inf  # never two sentences of one report
                for j in np.argpartition(-line, k - 1)[:k].tolist():
                    if np.isfinite(line[j]) and texts[i] != texts[j]:
                        best[(min(i, j), max(i, j))] = float(line[j])
        return sorted(best, key=lambda p: (-best[p], p))

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
