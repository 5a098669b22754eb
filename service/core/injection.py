"""Detects sentences of a report that address the model instead of the reader (prompt injection).

Such sentences are withheld from every prompt (answers, extraction, summaries), so the model never
reads them and nothing can cite them; they stay in the stored text, searchable and visible. The
rules are lexical: instructions aimed at AI readers, "ignore previous instructions", demands about
what every answer must contain, HTML comments, and encoded blobs (decoded and checked, or withheld
when they decode to text). The eval's injection suite measures what gets through.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache

from service.core.segment import segment
from service.domain.models import Sentence

_AI = (
    r"(?:ai (?:assistant|system|model|tool|reader)s?|language models?|llms?|chatbots?|virtual assistants?"
    r"|automated (?:reader|summar\w*|system|tool|assistant)s?|any model)"
)
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "asks to ignore instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|guidelines|above)\b",
            re.I,
        ),
    ),
    (
        "addresses AI readers",
        re.compile(
            rf"\b(?:to|for|attention|note to|message for)\b[^.]{{0,30}}\b{_AI}\b|\b{_AI}\b[^.]{{0,40}}\b(?:must|should|"
            rf"shall|are required|reading this)\b",
            re.I,
        ),
    ),
    (
        "dictates what answers must contain",
        re.compile(
            r"\b(?:every|each|all|any|your)\s+(?:answers?|responses?|summar(?:y|ies)|repl(?:y|ies)|outputs?)\b"
            r".{0,80}\b(?:must|should|shall|has to|have to|needs? to)\b",
            re.I,
        ),
    ),
    (
        "instructs the reader to emit or visit a link",
        re.compile(r"\b(?:visit|click|include|append|insert|output|print)\b.{0,60}(?:https?://|\blink\b)", re.I),
    ),
    (
        "gives the reader orders",
        re.compile(
            r"\byou(?:r answer)?\s+(?:must|should|shall|are to|need to|have to)\s+(?:always\s+)?"
            r"(?:include|answer|reply|respond|say|mention|output|write|append|end|begin|start|tell|ignore|add)\b",
            re.I,
        ),
    ),
    ("hides text in an HTML comment", re.compile(r"<!--|-->")),
]
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_BLOB = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


def _decoded_text(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return text if text and letters / len(text) > 0.8 else None


def embedded_instruction(sentence: str) -> str | None:
    """Why `sentence` looks like an instruction to the model, or None when it reads as report text."""
    for reason, pattern in _RULES:
        if pattern.search(sentence):
            return reason
    for blob in _BLOB.findall(sentence):
        if _decoded_text(blob) is not None:
            return "carries base64-encoded text"
    return None


@lru_cache(maxsize=512)
def instruction_regions(text: str) -> tuple[tuple[int, int, str], ...]:
    """Spans of a report's text to withhold from the model: HTML comments and instruction sentences."""
    found = [(m.start(), m.end(), "hides text in an HTML comment") for m in _COMMENT.finditer(text)]
    for s in segment(text):
        if reason := embedded_instruction(text[s.start : s.end]):
            found.append((s.start, s.end, reason))
    return tuple(sorted(found))


def withheld(text: str, start: int, end: int) -> str | None:
    """Why the span `text[start:end]` (a sentence) is withheld from prompts, or None."""
    return next((r for s, e, r in instruction_regions(text) if s < end and start < e), None)


def screened(text: str) -> list[Sentence]:
    """The sentences of `text` a prompt may show (those not withheld), with their original numbering."""
    return [s for s in segment(text) if withheld(text, s.start, s.end) is None]
