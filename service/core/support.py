"""Citation verification: a sentence stands only if the passages it cites support its content."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from text_to_num import alpha2digit

from service.core.relay import relayed_directive
from service.core.segment import passage_id
from service.core.text import STOPWORDS, content_terms, normalise, words
from service.domain.models import Citation, Document

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAP_STOP = STOPWORDS  # sentence-initial function words are not names


@dataclass(frozen=True)
class SupportCheck:
    """Outcome of checking one sentence against its cited passages."""

    supported: bool
    reason: str
    overlap: float


def numbers_in(text: str) -> set[str]:
    """The numbers in `text` as digit strings without thousands separators; numbers written in words are read by
    text2num (`alpha2digit`, English), not by a list of this project's."""
    return _numbers(text)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(alpha2digit(text, "en", threshold=0))}


def names_in(text: str) -> set[str]:
    """Capitalised words (names, places, organisations) in lower case, minus sentence-initial function words."""
    out = set()
    for w in words(text):
        if len(w) > 1 and w[0].isupper() and w.lower() not in _CAP_STOP and not w.isdigit():
            out.add(w.lower())
    return out


def check_support(sentence: str, evidence: list[str], min_overlap: float = 0.6, given: str = "") -> SupportCheck:
    """Names and numbers in `sentence` must all occur in `evidence` (names may also come from `given`, the question
    it answers: restating the question's own subject adds no claim); content terms must overlap the evidence.

    Numbers compare digit strings (numbers written in words read by text2num). Names compare
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
    named = normalise(joined + " " + given)
    ev_words = {w.lower() for w in words(named)}
    ev_terms = set(content_terms(joined))
    name_terms = ev_terms | set(content_terms(named))
    missing_names = sorted(n for n in names_in(sentence) if n not in ev_words and n[:6] not in name_terms)
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


@dataclass(frozen=True)
class Verdict:
    """What `verify_cited` decided for one generated sentence."""

    text: str
    cited: list[int]  # the numbers the sentence stands on once verified (valid, repaired or minimised)
    reason: str = ""  # why it was rejected; empty when kept
    repaired: bool = False

    @property
    def kept(self) -> bool:
        return not self.reason


def verify_cited(
    text: str,
    cited: Sequence[int],
    evidence: Callable[[int], str],
    count: int,
    *,
    no_citation: str | None,
    precheck: Callable[[list[int]], str] | None = None,
    each: bool = False,
    widen: Callable[[list[int]], list[int]] | None = None,
    repair: bool = False,
    minimal: bool = False,
    check: bool = True,
    skip_abstentions: bool = True,
    given: str = "",
    guard: str | None = None,
) -> Verdict | None:
    """The one verification of a cited sentence, for answers, summaries, digests and extracted statements.

    `cited` are the 1-based numbers the model gave, `evidence(n)` the text of unit `n` of `count`. Returns None
    for an empty sentence or (with `skip_abstentions`) an abstention: nothing to keep or reject. A sentence citing
    no valid number is rejected with `no_citation` (None: it goes on to `repair`); `precheck(valid)` may reject it
    for a caller's own rule. Then the first citation set that supports it (`check_support`) stands:
      1. with `each`, the cited units that support it on their own;
      2. the cited units together (with `minimal`, less the ones it does not need);
      3. `widen(cited)`, e.g. the cited sentences with the ones before them (where a pronoun resolves);
      4. with `repair`, the first single unit of all `count` that supports it (flagged: small models often cite a
         neighbour of the right unit).
    Otherwise it is rejected with the reason the cited units failed. `given` is the question a sentence answers:
    its names need no citation (its numbers do). `check=False` keeps every sentence with its valid citations (only for
    the gate's synthetic regression). `guard` is set for generated answers (the question) and summaries (""): a
    sentence relaying a link or a request to the reader is then rejected first (`relayed_directive`), whatever it
    cites.
    """
    text = text.strip()
    if not text or (skip_abstentions and is_abstention(text)):
        return None
    valid = sorted({n for n in cited if 1 <= n <= count})
    if not check:
        return Verdict(text, valid)
    if guard is not None and (relayed := relayed_directive(text, guard)):
        return Verdict(text, list(cited), relayed)
    if not valid and no_citation is not None:
        return Verdict(text, list(cited), no_citation)
    if precheck is not None and (why := precheck(valid)):
        return Verdict(text, list(cited), why)
    if each and (alone := [n for n in valid if check_support(text, [evidence(n)], given=given).supported]):
        return Verdict(text, alone)
    result = check_support(text, [evidence(n) for n in valid], given=given)
    if valid and result.supported:
        return Verdict(text, _minimal(text, valid, evidence, given) if minimal else valid)
    if valid and widen is not None:
        wider = widen(valid)
        if wider != valid and check_support(text, [evidence(n) for n in wider], given=given).supported:
            return Verdict(text, _minimal(text, wider, evidence, given) if minimal else wider)
    if repair:
        alt = next((n for n in range(1, count + 1) if check_support(text, [evidence(n)], given=given).supported), None)
        if alt is not None:
            return Verdict(text, [alt], repaired=True)
    return Verdict(text, valid, result.reason)


def _minimal(text: str, cited: list[int], evidence: Callable[[int], str], given: str = "") -> list[int]:
    """Drop cited units the sentence does not need (keeps citation precision honest)."""
    keep = list(cited)
    for n in cited:
        rest = [m for m in keep if m != n]
        if rest and check_support(text, [evidence(m) for m in rest], given=given).supported:
            keep = rest
    return keep


def cite(number: int, doc: Document, start: int, end: int, sentence_index: int) -> Citation:
    """The one citation builder: its quote is cut from the stored text at the cited offsets."""
    return Citation(
        passage_number=number,
        passage_id=passage_id(doc.id, sentence_index),
        document_id=doc.id,
        title=doc.title,
        start=start,
        end=end,
        quote=doc.text[start:end],
    )
