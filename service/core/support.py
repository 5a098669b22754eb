"""Citation verification: a sentence stands only if the passages it cites support its content."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.core.dates import MONTHS
from service.core.text import STOPWORDS, content_terms, normalise, words

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "twelve": "12", "twenty": "20", "hundred": "100",
}  # fmt: skip
_CAP_STOP = STOPWORDS | {"however", "meanwhile", "yes", "no"}


@dataclass(frozen=True)
class SupportCheck:
    """Outcome of checking one sentence against its cited passages."""

    supported: bool
    reason: str
    overlap: float


def numbers_in(text: str) -> set[str]:
    """Numbers in `text` as digit strings (number words up to "hundred" included)."""
    return _numbers(text)


def _numbers(text: str) -> set[str]:
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    found |= {_NUMBER_WORDS[w.lower()] for w in words(text) if w.lower() in _NUMBER_WORDS}
    return found


def _names(text: str) -> set[str]:
    """Capitalised words (names, places, organisations), minus sentence-initial function words."""
    out = set()
    for w in words(text):
        if len(w) > 1 and w[0].isupper() and w.lower() not in _CAP_STOP and not w.isdigit():
            out.add(w.lower())
    return out


def check_support(sentence: str, evidence: list[str], min_overlap: float = 0.6) -> SupportCheck:
    """Names and numbers in `sentence` must all occur in `evidence`; content terms must overlap.

    Numbers compare digit strings (number words up to "hundred" are read as digits). Names compare
    case-insensitively after folding quotes and possessives. Content overlap is the share of the
    sentence's stemmed non-stopword terms found among the evidence's terms.
    """
    if not evidence:
        return SupportCheck(False, "cites no retrieved passage", 0.0)
    joined = normalise(" ".join(evidence))
    ev_numbers = _numbers(joined)
    missing_numbers = sorted(_numbers(sentence) - ev_numbers)
    if missing_numbers:
        return SupportCheck(False, f"numbers not in cited passages: {', '.join(missing_numbers)}", 0.0)
    ev_words = {w.lower() for w in words(joined)}
    ev_terms = set(content_terms(joined))
    missing_names = sorted(n for n in _names(sentence) if n not in ev_words and n[:6] not in ev_terms)
    if missing_names:
        return SupportCheck(False, f"names not in cited passages: {', '.join(missing_names)}", 0.0)
    terms = content_terms(sentence)
    if not terms:
        return SupportCheck(False, "sentence has no content to verify", 0.0)
    overlap = sum(1 for t in terms if t in ev_terms) / len(terms)
    if overlap < min_overlap:
        return SupportCheck(False, f"only {overlap:.0%} of its terms appear in cited passages", overlap)
    return SupportCheck(True, "supported", overlap)


_ABSTAIN = re.compile(
    r"\b(do(es)? not (say|mention|state|specify|provide|contain)|not (mentioned|stated|specified|provided)"
    r"|no information|cannot be determined|unknown from the|not enough information)\b",
    re.IGNORECASE,
)


def is_abstention(sentence: str) -> bool:
    """True for sentences that only say the sources lack the answer."""
    return bool(_ABSTAIN.search(sentence))


_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
_AMOUNT = re.compile(r"[$€£¥]|\b(million|billion|thousand|dollars?|euros?|pounds?|yuan|rials?|won)\b", re.I)


def expected_answer_type(question: str) -> str | None:
    """What a direct answer must contain: 'amount', 'count', 'time', or None when open-ended."""
    q = question.lower().strip()
    if re.match(r"^(how much|what (was|is) the (cost|price|value))", q):
        return "amount"
    if re.match(r"^(how many|what number)", q):
        return "count"
    if re.match(r"^(when|in what year|what year|which year|on what date|what date|in which year)", q):
        return "time"
    return None


def answers_type(sentence: str, kind: str | None) -> bool:
    """True when `sentence` contains the kind of thing the question asks for."""
    if kind is None:
        return True
    toks = [w.lower() for w in words(sentence)]
    nums = [t for t in toks if t.replace(",", "").replace(".", "").isdigit() or t in _NUMBER_WORDS]
    if kind == "time":
        return any(_YEAR.match(t) for t in toks) or any(t in MONTHS for t in toks)
    non_year = [t for t in nums if not _YEAR.match(t)]
    if kind == "count":
        return bool(non_year)
    return bool(non_year) and bool(_AMOUNT.search(sentence))
