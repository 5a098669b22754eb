"""Tokenising shared by lexical retrieval and citation verification."""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Function words left out of term overlap: scikit-learn's maintained English list, not one of this project's.
STOPWORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")


def normalise(text: str) -> str:
    """Fold typographic quotes and dashes so that source text and model text compare."""
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("\u2013", "-")
        .replace("\u2014", "-")
    )


def words(text: str) -> list[str]:
    """Word tokens with possessives and trailing dots removed (case kept)."""
    out = []
    for w in _WORD.findall(normalise(text)):
        w = w.rstrip(".")
        if w.lower().endswith("'s"):
            w = w[:-2]
        if w:
            out.append(w)
    return out


def stem(word: str) -> str:
    """A deliberately crude stem: lower case, first six letters of words longer than six."""
    w = word.lower()
    for suffix in ("ies", "es", "s", "ed", "ing"):
        if len(w) > 4 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:6]


def content_terms(text: str) -> list[str]:
    """Stemmed non-stopword terms, for BM25 and overlap checks."""
    return [stem(w) for w in words(text) if w.lower() not in STOPWORDS and len(w) > 1]


# The one list of denial words (regex alternatives). Each use names what it adds, and why.
DENIAL_WORDS = (r"den(y|ied|ies)", r"reject(s|ed)?", r"false", r"fabricat\w*", r"dismiss(es|ed)?", r"disput(e|es|ed)")


def denial_pattern(*extra: str) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern of DENIAL_WORDS plus `extra` alternatives."""
    return re.compile(r"\b(" + "|".join((*DENIAL_WORDS, *extra)) + r")\b", re.I)
