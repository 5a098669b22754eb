"""Selective QA: how well a confidence decides when to answer (Kamath, Jia & Liang 2020; El-Yaniv & Wiener 2010).

Each QA row carries the confidence of its best candidate answer (given or held back) and whether that candidate is
right. Sweeping the threshold gives the risk-coverage curve (accuracy of what is answered against the share of
questions answered); AUROC says how well confidence separates right candidates from wrong ones (threshold-free);
the expected calibration error (10 equal-width bins) says how far confidence is from the observed accuracy.
A right decision is a right answer to an answerable question or a declined unanswerable one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BINS = 10


def right_decision(row: dict[str, Any]) -> bool:
    return bool(row.get("correct")) if row["answerable"] else bool(row["abstained"])


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(a random right candidate scores above a random wrong one), ties counted half; None without both."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def ece(scores: Sequence[float], labels: Sequence[bool], bins: int = BINS) -> float | None:
    """Expected calibration error: the item-weighted mean |confidence - accuracy| over equal-width bins."""
    if not scores:
        return None
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if idx:
            conf = sum(scores[i] for i in idx) / len(idx)
            acc = sum(labels[i] for i in idx) / len(idx)
            total += len(idx) * abs(conf - acc)
    return total / len(scores)


def curve(rows: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """The risk-coverage curve: for each distinct confidence as the threshold (and one above all), the share of
    questions answered, the accuracy of those answered, and the right decisions over all questions."""
    n = len(rows)
    if not n:
        return []
    conf = [_conf(r) for r in rows]
    points = []
    for t in sorted({*conf, 1.01}):
        answered = [r for r, c in zip(rows, conf, strict=True) if c >= t]
        right = sum(bool(r["candidate_correct"]) for r in answered)
        declined_right = sum(not r["answerable"] for r, c in zip(rows, conf, strict=True) if c < t)
        points.append(
            {
                "threshold": round(t, 4),
                "coverage": round(len(answered) / n, 4),
                "accuracy": round(right / len(answered), 4) if answered else 1.0,
                "right_decisions": round((right + declined_right) / n, 4),
            }
        )
    return points


def metrics(prefix: str, rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """`<prefix>.right_decisions`, `.coverage`, `.wrong_of_answered`, `.unanswerable_declined`, `.auroc`, `.ece`."""
    n = len(rows)
    answered = [r for r in rows if not r["abstained"]]
    unans = [r for r in rows if not r["answerable"]]
    scored = [r for r in rows if r.get("confidence") is not None]
    scores = [float(r["confidence"]) for r in scored]
    labels = [bool(r["candidate_correct"]) for r in scored]
    a, e = auroc(scores, labels), ece(scores, labels)

    def r4(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        f"{prefix}.right_decisions": r4(sum(right_decision(r) for r in rows) / n) if n else None,
        f"{prefix}.coverage": r4(len(answered) / n) if n else None,
        f"{prefix}.wrong_of_answered": r4(sum(not r.get("correct") for r in answered) / len(answered))
        if answered
        else None,
        f"{prefix}.unanswerable_declined": r4(sum(r["abstained"] for r in unans) / len(unans)) if unans else None,
        f"{prefix}.auroc": r4(a),
        f"{prefix}.ece": r4(e),
    }


def _conf(row: dict[str, Any]) -> float:
    return float(row["confidence"]) if row.get("confidence") is not None else 0.0
