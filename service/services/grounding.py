"""Locating facts in the source: span narrowing (exact, then fuzzy) and date normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from service.domain.facts import Grounding
from service.services.text_terms import normalise

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


_MONTHS = {
    m: i
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for m in names
}  # fmt: skip
_M = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DMY = re.compile(rf"\b(\d{{1,2}})\s+({_M})\.?,?\s+((?:19|20)\d\d)\b", re.I)
_MDY = re.compile(rf"\b({_M})\.?\s+(\d{{1,2}}),?\s+((?:19|20)\d\d)\b", re.I)
_MY = re.compile(rf"\b({_M})\.?,?\s+((?:19|20)\d\d)\b", re.I)
_ISO = re.compile(r"\b((?:19|20)\d\d)-(\d\d)(?:-(\d\d))?\b")
_Y = re.compile(r"\b((?:19|20)\d\d)\b")


def normalise_date(text: str | None) -> str | None:
    """ISO date (YYYY-MM-DD), month (YYYY-MM) or year (YYYY) from a date as written; None if none."""
    if not text:
        return None
    if m := _ISO.search(text):
        return m.group(0)
    if m := _DMY.search(text):
        return f"{m.group(3)}-{_MONTHS[m.group(2).lower()]:02d}-{int(m.group(1)):02d}"
    if m := _MDY.search(text):
        return f"{m.group(3)}-{_MONTHS[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    if m := _MY.search(text):
        return f"{m.group(2)}-{_MONTHS[m.group(1).lower()]:02d}"
    if m := _Y.search(text):
        return m.group(1)
    return None


def date_mention(text: str) -> str | None:
    """The first date expression in `text`, as written (for events whose date sits in their text)."""
    for pattern in (_ISO, _DMY, _MDY, _MY, _Y):
        if m := pattern.search(text):
            return m.group(0)
    return None
