"""Disagreements across reports: pairs of reports' statements the model judges incompatible, each side cited.

Statements and their candidate pairs are those of `service.extract.statements` (sentences holding stored claims,
quantities and events; each with its nearest sentences of other reports). A judgement is two one-token questions on
one shared prefix (the pair, `prompts/compare/vN.yaml`): which relation holds (agree / contradict / unrelated) and
whether both can be true at once. The model's probabilities (read from `top_logprobs`) are turned into P(contradict)
by a logistic regression fit on the dev claim pairs (`prompts/claim_calibrator/vN.yaml`, `dossier calibrate-claims`);
a pair is a disagreement from the threshold up (the calibrator's own, `DOSSIER_DISAGREEMENT_MIN_CONFIDENCE`, or the
request's). Judgements are kept between requests; a request judges at most `max_pairs` new pairs, so asking again
goes on where the last request stopped.
"""

from __future__ import annotations

import hashlib

from service.domain.facts import Disagreement
from service.domain.models import RunMeta
from service.extract.statements import StatementPairs


class DisagreementService:
    """Finds and serves the disagreements between the reports a caller sees."""

    def __init__(self, pairs: StatementPairs, *, settings_hash: str, min_confidence: float | None = None) -> None:
        self._pairs = pairs
        self.judge = pairs.judge
        self._settings_hash = settings_hash
        self._min_confidence = min_confidence

    @property
    def default_threshold(self) -> float:
        """The configured threshold, else the calibrator's own (chosen on dev pairs)."""
        return self.judge.calibrator.threshold if self._min_confidence is None else self._min_confidence

    def find(self, collections: list[str] | None, threshold: float | None = None) -> list[Disagreement]:
        """The disagreements between the reports in `collections` (None: all), most confident first, among the
        pairs judged so far (this request judges at most `max_pairs` new ones, nearest first)."""
        cut = self.default_threshold if threshold is None else threshold
        statements = self._pairs.statements(collections).items
        judged, _ = self._pairs.judged(statements, self._pairs.candidates(statements))
        out: list[Disagreement] = []
        for pair in judged:
            a, b, judgement, p = pair.a, pair.b, pair.judgement, pair.contradict
            if p < cut:
                continue
            key = "|".join(f"{s.side.document_id}:{s.side.evidence.start}:{s.side.evidence.end}" for s in (a, b))
            out.append(
                Disagreement(
                    id="dis_" + hashlib.sha256(key.encode()).hexdigest()[:16],
                    a=a.side,
                    b=b.side,
                    confidence=p,
                    signals=judgement.signals,
                    meta=RunMeta(
                        prompt_id=self.judge.prompt.id,
                        prompt_version=self.judge.prompt.version,
                        model=judgement.model,
                        settings_hash=self._settings_hash,
                        calibrator=self.judge.calibrator.ref,
                        usage=judgement.usage,
                    ),
                )
            )
        return sorted(out, key=lambda d: (-d.confidence, d.id))
