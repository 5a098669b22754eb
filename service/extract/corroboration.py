"""Corroboration: for a stored fact, the other reports whose sentences state the same thing, counted by source.

The fact's sentence is paired with its nearest sentences of other reports (`service.extract.statements`, the same
candidates and kept judgements as disagreements); the model's judgement of each pair is turned into P(agree) by a
logistic regression fit on the dev claim pairs (`prompts/agree_calibrator/vN.yaml`, `dossier calibrate-claims
--target agree`). A sentence corroborates the fact from the threshold up (the calibrator's own,
`DOSSIER_CORROBORATION_MIN_CONFIDENCE`, or the request's); a copy of the sentence in another report (the same text,
case and spacing aside) corroborates with confidence 1 and no model call. The count is of independent sources:
distinct publishers (a report's `source`), a report without one counting as its own, the fact's own source never
counted (pairs within one source are not judged). Besides copies, the candidates are the sentence's `NEIGHBOURS`
nearest sentences of other reports and those that have it among theirs, so a fact stated in many reports in
different words may be counted short; `complete` is false while candidates are left for the next request.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.facts import Corroborating, Corroboration, Fact
from service.domain.models import RunMeta, Usage
from service.extract.statements import StatementPairs


class CorroborationService:
    """Counts, for stored facts, the independent sources that state them too."""

    def __init__(self, pairs: StatementPairs, *, settings_hash: str, min_confidence: float | None = None) -> None:
        self._pairs = pairs
        self.judge = pairs.judge
        self._settings_hash = settings_hash
        self._min_confidence = min_confidence

    @property
    def default_threshold(self) -> float:
        """The configured threshold, else the agree calibrator's own (chosen on dev pairs)."""
        return self.judge.agree_calibrator.threshold if self._min_confidence is None else self._min_confidence

    def for_facts(
        self, facts: Sequence[tuple[str, Fact]], collections: list[str] | None, threshold: float | None = None
    ) -> list[Corroboration | None]:
        """Each fact's corroboration among the reports in `collections` (None: all); None for a fact that is not a
        statement (an entity, or a fact without evidence). This request judges at most `max_pairs` new pairs,
        nearest first."""
        cut = self.default_threshold if threshold is None else threshold
        statements = self._pairs.statements(collections)
        items = statements.items
        wanted = {i for doc_id, f in facts if (i := statements.index_of(doc_id, f)) is not None}
        candidates = [
            p for p in self._pairs.candidates(items) if wanted & set(p) and items[p[0]].source != items[p[1]].source
        ]
        judged, left = self._pairs.judged(items, candidates)
        found: dict[int, list[tuple[Corroborating, str]]] = {i: [] for i in wanted}
        usage: dict[int, Usage] = {i: Usage() for i in wanted}
        copies: dict[str, list[int]] = {}
        for n, statement in enumerate(items):
            copies.setdefault(statement.plain, []).append(n)
        for i in wanted:
            for j in copies[items[i].plain]:
                if items[j].source != items[i].source:  # a report has one source: never the fact's own report
                    found[i].append((Corroborating(side=items[j].side, confidence=1.0), items[j].source))
        for pair in judged:  # candidates are of two sources: the other side is never the fact's own
            for mine, other in ((pair.at[0], pair.at[1]), (pair.at[1], pair.at[0])):
                if mine not in wanted:
                    continue
                usage[mine] = usage[mine].add(pair.judgement.usage)
                if pair.agree >= cut:
                    side = items[other]
                    found[mine].append((Corroborating(side=side.side, confidence=pair.agree), side.source))
        pending = {i for p in left for i in p}
        out: list[Corroboration | None] = []
        for doc_id, fact in facts:
            i = statements.index_of(doc_id, fact)
            if i is None:
                out.append(None)
                continue
            sources = sorted(
                (c for c, _ in found[i]), key=lambda c: (-c.confidence, c.side.document_id, c.side.evidence.start)
            )
            count = len({source for _, source in found[i]})
            out.append(
                Corroboration(
                    count=count,
                    sources=sources,
                    complete=i not in pending,
                    min_confidence=cut,
                    meta=RunMeta(
                        prompt_id=self.judge.prompt.id,
                        prompt_version=self.judge.prompt.version,
                        model=self.judge.model_name,
                        settings_hash=self._settings_hash,
                        calibrator=self.judge.agree_calibrator.ref,
                        usage=usage[i],  # a pair two facts share is reported on both
                    ),
                )
            )
        return out
