"""Dates as reports write them: one month table, the date expressions, normalisation to ISO."""

from __future__ import annotations

import re

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_M = "|".join(sorted(MONTHS, key=len, reverse=True))
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
        return f"{m.group(3)}-{MONTHS[m.group(2).lower()]:02d}-{int(m.group(1)):02d}"
    if m := _MDY.search(text):
        return f"{m.group(3)}-{MONTHS[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    if m := _MY.search(text):
        return f"{m.group(2)}-{MONTHS[m.group(1).lower()]:02d}"
    if m := _Y.search(text):
        return m.group(1)
    return None


def date_mention(text: str) -> str | None:
    """The first date expression in `text`, as written (for events whose date sits in their text)."""
    for pattern in (_ISO, _DMY, _MDY, _MY, _Y):
        if m := pattern.search(text):
            return m.group(0)
    return None
