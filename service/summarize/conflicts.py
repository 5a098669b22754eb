"""Rule-detected candidate disagreements between sentences of different reports."""

from __future__ import annotations

from dataclasses import dataclass

from service.core.dates import date_mention
from service.core.support import numbers_in
from service.core.text import content_terms, denial_pattern

# Between two reports, one doubting what the other states is a disagreement too.
_DENIAL = denial_pattern(r"doubt\w*")
MIN_SHARED_TERMS = 3


def _quantities(text: str) -> set[str]:
    """Numbers that are not part of a date: dates in two reports differ without contradicting."""
    while (d := date_mention(text)) is not None:
        text = text.replace(d, " ")
    return numbers_in(text)


@dataclass(frozen=True)
class Conflict:
    """Two numbered sentences from different reports that look like they disagree, and why."""

    a: int
    b: int
    reason: str
    shared: int


def candidate_conflicts(units: list[tuple[str, str]], limit: int = 3) -> list[Conflict]:
    """Pairs (1-based numbers) of (text, document id) units from different reports that share at least
    MIN_SHARED_TERMS content terms and either state different quantities (dates aside) or where one
    denies/doubts and the other does not. Best (most shared terms) first."""
    terms = [set(content_terms(t)) - {n for n in numbers_in(t)} for t, _ in units]
    out: list[Conflict] = []
    for i, (ta, da) in enumerate(units):
        for j in range(i + 1, len(units)):
            tb, db = units[j]
            if da == db:
                continue
            shared = len(terms[i] & terms[j])
            if shared < MIN_SHARED_TERMS:
                continue
            na, nb = _quantities(ta), _quantities(tb)
            if na and nb and na != nb:
                reason = f"numbers differ: {', '.join(sorted(na))} vs {', '.join(sorted(nb))}"
            elif bool(_DENIAL.search(ta)) != bool(_DENIAL.search(tb)):
                reason = "one report denies or doubts what the other states"
            else:
                continue
            out.append(Conflict(i + 1, j + 1, reason, shared))
    return sorted(out, key=lambda c: (-c.shared, c.a, c.b))[:limit]
