"""Checks on claims against their evidence sentence: who says it, and with what stance."""

from __future__ import annotations

import re

from service.core.text import denial_pattern, normalise

_VERBS = (
    r"told|said|says|say|stated|states|denied|denies|deny|rejected|rejects|argued|argues|warned|warns|"
    r"added|adds|claimed|claims|insisted|insists|dismissed|dismisses|wrote|writes|reported|reports|"
    r"disputed|disputes|concluded|concludes|estimated|estimates|believes|maintained|maintain"
)
_ATTRIBUTION = re.compile(
    rf"(?P<subj>[A-Z][\w'\-.]*(?:\s+(?:(?:of|for)\s+)?[A-Z][\w'\-.]*){{0,5}})\s+"
    rf"(?:(?:has|have|had|also|later|then)\s+)*"
    rf"(?:{_VERBS})\b"
)
# Verbs reporting speech or judgement, whoever the subject ("The panel recommended ...", "said Wen Lu"): the
# attribution verbs less the ones that are also nouns or adjectives ("member states", "the estimates", "a reported
# shipment"), so "the United States designated" is not speech; lower case only.
_NOT_ONLY_VERBS = {
    "states",
    "claims",
    "reports",
    "reported",
    "estimates",
    "disputes",
    "rejects",
    "adds",
    "dismisses",
    "writes",
    "concludes",
    "maintain",
}
_REPORTING = re.compile(
    r"\b("
    + "|".join(
        [v for v in _VERBS.split("|") if v not in _NOT_ONLY_VERBS]
        + "tell tells argue recommended recommends urged urges accused accuses agreed agrees disagree disagrees "
        "acknowledged assessed alleged".split()
    )
    + r")\b"
)
# A speaker's stance: "denial", "never" and "baseless" also deny (doubt is an assessment, not a denial).
_DENIAL = denial_pattern(r"denial", r"never", r"baseless")
_HEDGE = re.compile(r"\b(likely|unlikely|uncertain|may|might|possibly|probably|assess\w*|believ\w*)\b", re.I)


def attributed_speaker(sentence: str) -> tuple[str, int] | None:
    """The capitalised subject of the first reporting verb ("Iran told ...") and where the verb ends."""
    m = _ATTRIBUTION.search(normalise(sentence))
    if not m:
        return None
    words = m.group("subj").split()
    while words and words[0] in {"In", "On", "At", "But", "And", "The", "A", "An", "However"}:
        words = words[1:]
    return (" ".join(words), m.end()) if words else None


def reports_speech(sentence: str) -> bool:
    """True when the sentence reports what someone said, argued, recommended or judged."""
    return bool(_REPORTING.search(normalise(sentence)))


def correct_speaker(speaker: str, sentence: str) -> str:
    """Replace a speaker the model took from the object of the reporting verb ("Iran told *the panel*")."""
    found = attributed_speaker(sentence)
    if found is None or not speaker.strip():
        return speaker
    subject, verb_end = found
    at = normalise(sentence).lower().find(normalise(speaker).lower().removeprefix("the ").strip())
    return subject if at >= verb_end else speaker


def stance_from_cues(stance: str, evidence: str) -> str:
    """Keep the model's stance unless the evidence's wording contradicts it.

    Denial wording (denied, rejected, false, fabricated, ...) makes a claim `denies`; a `denies` without
    any such wording becomes `assesses` when hedged (likely, uncertain, ...) and `asserts` otherwise.
    """
    if _DENIAL.search(evidence):
        return "denies"
    if stance == "denies":
        return "assesses" if _HEDGE.search(evidence) else "asserts"
    return stance
