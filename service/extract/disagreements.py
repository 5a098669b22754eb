"""Disagreements across reports: pairs of reports' statements the model judges incompatible, each side cited.

A statement is the verbatim evidence sentence of a stored claim, quantity or event fact. Pairs from different
reports are candidates when their sentences are near by embedding (each sentence's few nearest in other reports);
the nearest `max_pairs` are judged. A judgement is two one-token questions on one shared prefix (the pair, in
`prompts/compare/vN.yaml`): which relation holds (agree / contradict / unrelated) and whether both can be true at
once. The model's probabilities (read from `top_logprobs`) are turned into P(contradict) by a logistic regression
fit on the dev claim pairs (`prompts/claim_calibrator/vN.yaml`, `dossier calibrate-claims`); a pair is a
disagreement from the threshold up (the calibrator's own, `DOSSIER_DISAGREEMENT_MIN_CONFIDENCE`, or the request's).
Judgements are kept between requests (keyed by prompt and sentences), so a second request costs no model call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

from service.core.comparing import PairJudge
from service.domain.facts import ClaimSide, Disagreement, Evidence
from service.domain.models import RunMeta
from service.domain.ports import DocumentRepository, Embedder
from service.extract.service import ExtractService

KINDS = ("claims", "quantities", "events")
NEIGHBOURS = 3  # each sentence's nearest sentences in other reports that are judged with it


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

    @property
    def default_threshold(self) -> float:
        """The configured threshold, else the calibrator's own (chosen on dev pairs)."""
        return self.judge.calibrator.threshold if self._min_confidence is None else self._min_confidence

    def find(self, collections: list[str] | None, threshold: float | None = None) -> list[Disagreement]:
        """The disagreements between the reports in `collections` (None: all), most confident first."""
        cut = self.default_threshold if threshold is None else threshold
        statements = self._statements(collections)
        out: list[Disagreement] = []
        for i, j in self._candidates(statements):
            a, b = sorted((statements[i], statements[j]), key=lambda s: s.order)
            judged = self.judge.judge(a.side.evidence.text, b.side.evidence.text)
            p = self.judge.confidence(judged.signals)
            if p is None or p < cut:
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
        seen: set[tuple[str, int, int]] = set()
        out: list[_Statement] = []
        for doc_id, title, kind, fact in self._extract.query(self._schema_id, collections=collections):
            doc = docs.get(doc_id)
            if kind not in KINDS or doc is None or not fact.evidence:
                continue
            ev: Evidence = fact.evidence[0]
            if (doc_id, ev.start, ev.end) in seen:
                continue
            seen.add((doc_id, ev.start, ev.end))
            reported = doc.published or doc.created_at.date()
            side = ClaimSide(document_id=doc_id, document_title=title, reported=reported, kind=kind, evidence=ev)
            out.append(_Statement(side, (reported, doc_id, ev.start)))
        return out

    def _candidates(self, statements: list[_Statement]) -> list[tuple[int, int]]:
        """Pairs from different reports among each sentence's `NEIGHBOURS` nearest, the `max_pairs` nearest."""
        if len(statements) < 2:
            return []
        vectors = np.asarray(
            self._embedder.embed_documents([s.side.evidence.text for s in statements]), dtype=np.float32
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)
        owners = np.asarray([s.side.document_id for s in statements])
        best: dict[tuple[int, int], float] = {}
        for start in range(0, len(statements), 1024):
            sims = vectors[start : start + 1024] @ vectors.T
            for row, line in enumerate(sims):
                i = start + row
                line[owners == owners[i]] = -np.inf  # never two sentences of one report
                for j in np.argsort(-line)[:NEIGHBOURS].tolist():
                    if np.isfinite(line[j]):
                        best[(min(i, j), max(i, j))] = float(line[j])
        ranked = sorted(best, key=lambda p: (-best[p], p))
        return ranked[: self._max_pairs]
