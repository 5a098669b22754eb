"""Sentence segmentation with character offsets into the verbatim text."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

from service.domain.models import Sentence

_LINE = re.compile(r"[^\n]+")
_URL_TAIL = re.compile(r"https?://\S*$")  # pysbd splits URLs at "?"; such a piece continues
# Abbreviations that never end a sentence in report prose; pysbd sometimes splits after them.
_NO_END = (
    "Co.",
    "Ltd.",
    "Inc.",
    "Corp.",
    "Mr.",
    "Mrs.",
    "Ms.",
    "Dr.",
    "Gen.",
    "Lt.",
    "Col.",
    "Capt.",
    "Adm.",
    "Sen.",
    "Rep.",
    "St.",
    "No.",
    "Jr.",
    "Prof.",
)


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def _spans_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; locate each one so offsets are exact."""
    chunk = text[start:end]
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(chunk):
        stripped = piece.strip()
        if not stripped:
            continue
        at = chunk.find(stripped, cursor)
        if at < 0:  # segmenter altered the text; fall back to the rest of the chunk
            rest = chunk[cursor:]
            lead = len(rest) - len(rest.lstrip())
            at, stripped = cursor + lead, rest.strip()
            if stripped:
                spans.append((start + at, start + at + len(stripped)))
            break
        spans.append((start + at, start + at + len(stripped)))
        cursor = at + len(stripped)
    return spans


def segment(text: str) -> list[Sentence]:
    """Sentences of `text` as offsets; `text[s.start:s.end]` is the sentence, stripped of spaces.

    Blocks are split at newlines first (headlines and bylines carry no full stop), then each line is
    split into sentences by pysbd.
    """
    out: list[Sentence] = []
    for line in _LINE.finditer(text):
        if not line.group().strip():
            continue
        first = True
        for s, e in _spans_in(text, line.start(), line.end()):
            prev = text[out[-1].start : out[-1].end] if out and not first else ""
            if prev and (len(text[s:e].split()) < 2 or prev.endswith(_NO_END) or _URL_TAIL.search(prev)):
                out[-1] = Sentence(index=out[-1].index, start=out[-1].start, end=e)
                continue
            out.append(Sentence(index=len(out), start=s, end=e))
            first = False
    return out


def windows(sentences: list[Sentence], max_chars: int) -> list[list[Sentence]]:
    """Consecutive sentences grouped so that each window's text stays under `max_chars`."""
    out: list[list[Sentence]] = []
    size = 0
    for s in sentences:
        length = s.end - s.start
        if out and size + length <= max_chars:
            out[-1].append(s)
            size += length
        else:
            out.append([s])
            size = length
    return out


def passage_id(doc_id: str, index: int) -> str:
    """The id of sentence `index` of a document: the one format, used by the index and by citations."""
    return f"{doc_id}:{index:05d}"
