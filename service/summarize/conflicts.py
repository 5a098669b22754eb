"""Disagreements between the summary sentences of different reports, judged by the model and calibrated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.core.comparing import PairJudge
from service.domain.models import Usage
from service.domain.ports import Embedder

PAIRS = 6  # the nearest cross-report sentence pairs judged per digest (two one-token calls each)


@dataclass(frozen=True)
class Conflict:
    """Two numbered sentences from different reports, and the calibrated P(they contradict each other)."""

    a: int
    b: int
    confidence: float


def judged_conflicts(
    units: Sequence[tuple[str, str]],
    judge: PairJudge,
    embedder: Embedder,
    threshold: float,
    pairs: int = PAIRS,
) -> tuple[list[Conflict], Usage]:
    """Pairs (1-based numbers) of (text, document id) units from different reports whose calibrated
    P(contradict) reaches `threshold`, among the `pairs` nearest by embedding; most confident first."""
    usage = Usage()
    if len(units) < 2:
        return [], usage
    vectors = np.asarray(embedder.embed_documents([t for t, _ in units]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)
    sims = vectors @ vectors.T
    candidates = sorted(
        (
            (float(sims[i, j]), i, j)
            for i in range(len(units))
            for j in range(i + 1, len(units))
            if units[i][1] != units[j][1]
        ),
        reverse=True,
    )[:pairs]
    out: list[Conflict] = []
    for _, i, j in candidates:
        judged = judge.judge(units[i][0], units[j][0])
        usage = usage.add(judged.usage)
        p = judge.confidence(judged.signals)
        if p is not None and p >= threshold:
            out.append(Conflict(i + 1, j + 1, p))
    return sorted(out, key=lambda c: (-c.confidence, c.a, c.b)), usage
