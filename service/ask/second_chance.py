"""The second chance (when the model abstains although one shown sentence holds the question's terms, ask it only
to copy the words of that sentence that answer, and accept them only if Dossier can check them) and the context the
relation check reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.core.injection import withheld
from service.core.relay import relayed_directive
from service.core.segment import segment
from service.core.spans import Span, narrow
from service.core.support import answers_type, expected_answer_type, names_in, numbers_in
from service.core.text import content_terms, stem
from service.domain.models import Citation, Document, ScoredPassage

# Question words that say what kind of answer is wanted, not what it is about.
_GENERIC = {
    stem(w)
    for w in """name named kind type sort many much number amount date year month day time happen happened take
    took place describe described identify identified give given call called mention mentioned role""".split()
}
MIN_COVER = 0.5  # share of the question's other terms the sentence must hold (all its names and numbers, always)
MAX_SPAN_WORDS = 25


class SpanOutput(BaseModel):
    """What the model returns to the span prompt."""

    answer: str = Field(default="", max_length=400)


def focus(question: str) -> tuple[set[str], set[str]]:
    """The question's names and numbers (stemmed, all required) and its other content terms."""
    names = {stem(n) for n in names_in(question)} | numbers_in(question)
    terms = {t for t in content_terms(question) if t not in _GENERIC} - names
    return names, terms


def confident_passage(question: str, shown: list[ScoredPassage]) -> ScoredPassage | None:
    """The best-ranked shown passage that holds every name and number of the question and at least MIN_COVER of
    its other terms (at least two terms in all); None when retrieval is not that sure."""
    names, terms = focus(question)
    if len(names) + len(terms) < 2:
        return None
    for sp in shown:
        have = set(content_terms(sp.passage.text)) | numbers_in(sp.passage.text)
        if names <= have and (not terms or len(terms & have) / len(terms) >= MIN_COVER):
            return sp
    return None


def accept_span(phrase: str, question: str, doc: Document, sp: ScoredPassage) -> Span | None:
    """Where the model's words sit in the passage, if they are there (exact, then fuzzy), are short, say
    something the question does not, and are the kind of thing the question asks for; else None."""
    phrase = phrase.strip()
    if not phrase or len(phrase.split()) > MAX_SPAN_WORDS:
        return None
    span = narrow(phrase, doc.text, sp.passage.start, sp.passage.end)
    if span is None:
        return None
    words = doc.text[span.start : span.end]
    asked = set(content_terms(question)) | numbers_in(question)
    if not (set(content_terms(words)) | numbers_in(words)) - asked:
        return None  # it only repeats the question
    if not answers_type(words, expected_answer_type(question)):
        return None
    if relayed_directive(words, question):
        return None  # a link or a request to the reader is never an answer's core
    return span


def in_context(citations: list[Citation], docs: dict[str, Document]) -> str:
    """The cited sentences as the relation check reads them: under their report's title and source, each after the
    sentence before it (where "the center" or "she" is named), in reading order."""
    blocks: list[str] = []
    for doc_id in dict.fromkeys(c.document_id for c in citations):
        doc = docs[doc_id]
        spans: set[tuple[int, int]] = set()
        for c in citations:
            if c.document_id != doc_id:
                continue
            spans.add((c.start, c.end))
            before = _sentence_before(doc.text, c.start)
            if before is not None and withheld(doc.text, *before) is None:
                spans.add(before)  # never a sentence the injection screen withholds
        source = f" ({doc.source})" if doc.source else ""
        text = " ".join(doc.text[start:end] for start, end in sorted(spans))
        blocks.append(f'Report "{doc.title}"{source}: {text}')
    return "\n".join(blocks)


def _sentence_before(text: str, start: int, reach: int = 2000) -> tuple[int, int] | None:
    """Offsets of the sentence ending before `start`, segmenting only the `reach` characters before it (a long
    report is never segmented whole per question); None at the start of the text or past a longer sentence."""
    lo = max(0, start - reach)
    sentences = segment(text[lo:start])
    if not sentences or (lo > 0 and len(sentences) < 2):
        return None
    last = sentences[-1]
    return lo + last.start, lo + last.end
