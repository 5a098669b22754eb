"""Locating a phrase in a passage of stored text: exact (case- and quote-insensitive), then fuzzy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from service.core.text import normalise
from service.domain.facts import Grounding

FUZZY_MIN_SCORE = 85.0  # rapidfuzz ratio (0-100) between the key and a run of words
FUZZY_MIN_KEY_CHARS = 4  # shorter keys must match exactly
FUZZY_WORD_SLACK = 2  # candidate runs have the key's word count, plus or minus this
_TOKEN = re.compile(r"[\w'\-]+(?:\.(?=\w))?[\w'\-]*")


@dataclass(frozen=True)
class Span:
    """Offsets into a document and how they were found."""

    start: int
    end: int
    grounding: Grounding


def _fold(text: str) -> str:
    """Case- and quote-folding that keeps every character's offset."""
    return normalise(text).lower()


def narrow(key: str, text: str, start: int, end: int) -> Span | None:
    """Find `key` inside `text[start:end]`: exact (case/quote-insensitive) first, then fuzzy.

    The fuzzy step compares the key with every run of whole words in the window whose word count is
    within FUZZY_WORD_SLACK of the key's (rapidfuzz `ratio`, 0-100) and keeps the best run scoring at
    least FUZZY_MIN_SCORE. Keys shorter than FUZZY_MIN_KEY_CHARS must match exactly. Returns None when
    neither step finds the key.
    """
    k = _fold(key).strip().strip("\"'.,;:")
    if not k:
        return None
    window = _fold(text[start:end])
    at = window.find(k)
    if at >= 0:
        return Span(start + at, start + at + len(k), "exact")
    if len(k) < FUZZY_MIN_KEY_CHARS:
        return None
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(window)]
    n = len(_TOKEN.findall(k))
    best: tuple[float, int, int] | None = None
    for i in range(len(tokens)):
        for size in range(max(1, n - FUZZY_WORD_SLACK), n + FUZZY_WORD_SLACK + 1):
            if i + size > len(tokens):
                break
            s, e = tokens[i][0], tokens[i + size - 1][1]
            score = fuzz.ratio(k, window[s:e])
            if best is None or score > best[0]:
                best = (score, s, e)
    if best is None or best[0] < FUZZY_MIN_SCORE:
        return None
    return Span(start + best[1], start + best[2], "fuzzy")
