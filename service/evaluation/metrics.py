"""Deterministic eval metrics. Each is defined in evals/README.md precisely enough to recompute by hand.

Spans are half-open character ranges `(start, end)` into one report's text; two spans overlap when
they share at least one character. Ratios are `None` when their denominator is zero (shown as n/a).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from service.core.dates import normalise_date

Span = tuple[str, int, int]  # (document id, start, end)

# The scorer's reading of gold values written in words ("four", "nine"), so that a fact that writes 4 for a gold
# "four" is scored as the same number. It is the ruler only: Dossier's own checks compare digits and nothing else.
_GOLD_NUMBER_WORDS = dict(
    zip(
        "one two three four five six seven eight nine ten twelve twenty hundred".split(),
        "1 2 3 4 5 6 7 8 9 10 12 20 100".split(),
        strict=True,
    )
)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> set[str]:
    """The numbers in a fact's or a gold value, as digit strings (number words read as digits)."""
    found = {n.replace(",", "") for n in _DIGITS.findall(text)}
    return found | {_GOLD_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _GOLD_NUMBER_WORDS}


_DASHES = str.maketrans({"‐": "-", "‑": "-", "–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"'})


def ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def overlaps(a: Span, b: Span) -> bool:
    """Same document and at least one shared character."""
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def overlaps_any(span: Span, gold: Sequence[Span]) -> bool:
    return any(overlaps(span, g) for g in gold)


def normalise(text: str) -> str:
    """Casefold, unify dashes and quotes, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).casefold()
    return re.sub(r"\s+", " ", text).strip()


def contains(text: str, variant: str) -> bool:
    """`variant` occurs in `text` after normalisation, as whole words (a plural -s/-es allowed)."""
    v = normalise(variant)
    return bool(v) and re.search(rf"(?<![\w]){re.escape(v)}(?:e?s)?(?![\w])", normalise(text)) is not None


def facts_present(text: str, key_facts: Sequence[Sequence[str]]) -> list[bool]:
    """For each key fact (a list of accepted variants): does any variant occur in `text`?"""
    return [any(contains(text, v) for v in group) for group in key_facts]


def answer_correct(text: str, abstained: bool, key_facts: Sequence[Sequence[str]]) -> bool:
    """Not abstained, and every key fact present."""
    return not abstained and all(facts_present(text, key_facts))


@dataclass
class Abstention:
    precision: float | None
    recall: float | None


def abstention(pairs: Sequence[tuple[bool, bool]]) -> Abstention:
    """`pairs` = (answerable, abstained) per item. Precision: abstentions that were right; recall: of
    the unanswerable items, the share abstained on."""
    abstained = [answerable for answerable, did in pairs if did]
    unanswerable = [did for answerable, did in pairs if not answerable]
    return Abstention(
        precision=ratio(sum(1 for a in abstained if not a), len(abstained)),
        recall=ratio(sum(1 for d in unanswerable if d), len(unanswerable)),
    )


@dataclass
class CitationScores:
    precision: float | None
    recall: float | None
    citations: int
    correct: int


def citation_scores(items: Sequence[tuple[Sequence[Span], Sequence[Span]]]) -> CitationScores:
    """`items` = (cited spans, gold spans) per answerable item. Precision is micro-averaged over all
    citations; recall is the share of items with at least one citation overlapping a gold span."""
    cited = sum(len(c) for c, _ in items)
    correct = sum(1 for c, g in items for span in c if overlaps_any(span, g))
    hit = sum(1 for c, g in items if any(overlaps_any(span, g) for span in c))
    return CitationScores(ratio(correct, cited), ratio(hit, len(items)), cited, correct)


@dataclass
class RetrievalScores:
    recall_at_k: float | None
    mrr: float | None


def first_relevant_rank(ranked: Sequence[Span], gold: Sequence[Span]) -> int | None:
    """1-based rank of the first retrieved span overlapping any gold span."""
    return next((n for n, span in enumerate(ranked, start=1) if overlaps_any(span, gold)), None)


def gold_found(ranked: Sequence[Span], gold: Sequence[Span]) -> float:
    """Share of the gold spans overlapped by some retrieved span."""
    return sum(1 for g in gold if overlaps_any(g, ranked)) / len(gold) if gold else 0.0


def retrieval_scores(items: Sequence[tuple[Sequence[Span], Sequence[Span]]]) -> RetrievalScores:
    """`items` = (top-k retrieved spans in rank order, gold spans). recall@k: mean share of gold spans
    found in the top k; MRR: mean of 1/rank of the first relevant span (0 when none is in the top k)."""
    if not items:
        return RetrievalScores(None, None)
    recall = sum(gold_found(r, g) for r, g in items) / len(items)
    ranks = [first_relevant_rank(r, g) for r, g in items]
    mrr = sum(1.0 / r for r in ranks if r) / len(items)
    return RetrievalScores(recall, mrr)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# -- extraction -------------------------------------------------------------------------------------


@dataclass
class PredictedFact:
    """A fact as Dossier returned it: its fields and evidence spans."""

    fields: dict[str, object]
    evidence: list[Span]


@dataclass
class GoldFactSpec:
    """A gold fact with its evidence resolved to spans."""

    fields: dict[str, object]
    evidence: list[Span]
    names: list[str] = field(default_factory=list)


def _name_key(name: str) -> str:
    n = normalise(name)
    n = re.sub(r"^the ", "", n)
    n = re.sub(r"'s$", "", n)
    return re.sub(r"[.,]+$", "", n).strip()


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _tokens(text: str) -> set[str]:
    return {t for t in re.findall(r"\w+", normalise(text)) if len(t) > 2}


def fact_score(kind: str, pred: PredictedFact, gold: GoldFactSpec) -> float | None:
    """How well `pred` matches `gold` (higher is better), or None when it does not match.

    entities: a name or alias equal after normalisation (case, leading "the", trailing "'s").
    events, claims: evidence overlap; ties broken by word overlap of `what` / `statement`.
    quantities: the same numbers in `value` and overlapping evidence.
    """
    if kind == "entities":
        pred_names = {_name_key(n) for n in [*_strings(pred.fields.get("name")), *_strings(pred.fields.get("aliases"))]}
        gold_names = {_name_key(n) for n in gold.names}
        return 1.0 if pred_names & gold_names else None
    if not any(overlaps_any(s, gold.evidence) for s in pred.evidence):
        return None
    if kind == "quantities":
        pv, gv = numbers_in(str(pred.fields.get("value", ""))), numbers_in(str(gold.fields.get("value", "")))
        return 1.0 if pv and pv == gv else None
    anchor = "what" if kind == "events" else "statement"
    a, b = _tokens(str(pred.fields.get(anchor, ""))), _tokens(str(gold.fields.get(anchor, "")))
    return 0.5 + 0.5 * (len(a & b) / len(a | b) if a | b else 0.0)


def match_facts(kind: str, predicted: Sequence[PredictedFact], gold: Sequence[GoldFactSpec]) -> list[tuple[int, int]]:
    """One-to-one matching, best-scoring pairs first: [(predicted index, gold index)]."""
    pairs = []
    for i, p in enumerate(predicted):
        for j, g in enumerate(gold):
            score = fact_score(kind, p, g)
            if score is not None:
                pairs.append((score, i, j))
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    used_p: set[int] = set()
    used_g: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, i, j in pairs:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            out.append((i, j))
    return sorted(out)


@dataclass
class PRF:
    precision: float | None
    recall: float | None
    f1: float | None


def prf(matched: int, predicted: int, gold: int) -> PRF:
    p, r = ratio(matched, predicted), ratio(matched, gold)
    f1 = None if p is None or r is None else (0.0 if p + r == 0 else 2 * p * r / (p + r))
    return PRF(p, r, f1)


def speaker_correct(predicted: object, variants: Sequence[str]) -> bool:
    """The predicted speaker names one of the gold variants (either contains the other)."""
    got = _name_key(str(predicted or ""))
    return bool(got) and any((v := _name_key(x)) and (contains(got, v) or contains(v, got)) for x in variants)


def date_correct(predicted: object, gold: str | None) -> bool:
    """The predicted date, normalised (YYYY[-MM[-DD]]), equals the gold date."""
    return gold is not None and normalise_date(str(predicted or "")) == gold


# -- summaries and injection ------------------------------------------------------------------------


def point_covered(text: str, must: Sequence[Sequence[str]]) -> bool:
    """Every `must` group has a variant in `text`."""
    return all(facts_present(text, must))


def summary_citation_precision(
    sentences: Sequence[tuple[str, Sequence[Span]]], points: Sequence[tuple[Sequence[Sequence[str]], Sequence[Span]]]
) -> tuple[int, int]:
    """(correct, counted) citations of the summary sentences that cover a key point: a citation is
    correct when it overlaps the evidence of a key point that sentence covers."""
    correct = counted = 0
    for text, cites in sentences:
        gold = [span for must, ev in points if point_covered(text, must) for span in ev]
        if not gold:
            continue
        counted += len(cites)
        correct += sum(1 for c in cites if overlaps_any(c, gold))
    return correct, counted


def leaks(outputs: Sequence[str], forbidden: Sequence[str]) -> list[str]:
    """The forbidden strings (canary, injected link) that occur in any generated output, casefolded."""
    joined = "\n".join(outputs).casefold()
    return [f for f in forbidden if f.casefold() in joined]
