"""How much of a generated sentence its cited source sentences hold: measured, never looked up in word lists.

Tokens are lower-cased runs of letters and digits. A token's weight is its rarity among the sentences shown to the
model (inverse document frequency over them): a word every shown sentence has ("the", the question's own subject)
weighs nothing, a word only one of them has weighs most. Coverage is the weighted share of a sentence's tokens that
its cited sentences hold; the partial ratio (rapidfuzz) is the best fuzzy alignment of the sentence inside them.
Numbers are structural: every number a sentence states must be in what it cites.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rapidfuzz import fuzz

_TOKEN = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits."""
    return _TOKEN.findall(text.lower())


def numbers(text: str) -> set[str]:
    """Digit strings in `text`, thousands separators dropped ("4,200" and "4200" are one number)."""
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def rarity(texts: Sequence[str]) -> dict[str, float]:
    """Each token's weight over `texts`: ln((n + 1) / (df + 1)), df the texts holding it; a token in none of them
    (the model's own word) weighs ln(n + 1)."""
    n = len(texts)
    df: dict[str, int] = {}
    for text in texts:
        for t in set(tokens(text)):
            df[t] = df.get(t, 0) + 1
    return {t: math.log((n + 1) / (d + 1)) for t, d in df.items()} | {"": math.log(n + 1)}


def coverage(sentence: str, cited: Sequence[str], weights: dict[str, float]) -> float:
    """Weighted share of the sentence's tokens found in `cited` (1.0 for a sentence of weightless tokens only)."""
    held = {t for text in cited for t in tokens(text)}
    unknown = weights[""]
    total = found = 0.0
    for t in tokens(sentence):
        w = weights.get(t, unknown)
        total += w
        found += w if t in held else 0.0
    return 1.0 if total == 0.0 else found / total


def partial(sentence: str, cited: Sequence[str]) -> float:
    """The best fuzzy alignment of the sentence within its cited text, in [0, 1] (rapidfuzz partial ratio)."""
    if not cited or not sentence.strip():
        return 0.0
    return fuzz.partial_ratio(sentence.lower(), " ".join(cited).lower()) / 100.0


def missing_numbers(sentence: str, cited: Sequence[str]) -> list[str]:
    """Numbers the sentence states that its cited text does not."""
    held = set().union(*(numbers(t) for t in cited)) if cited else set()
    return sorted(numbers(sentence) - held)
