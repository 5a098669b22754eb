"""The one attribution rule that earns its place: a claim's stance against the wording of its evidence sentence.

Measured by `benchmarks/extraction_rules_ablation.py` (docs/architecture.md): without it, held-out stance accuracy
falls from 0.60 to 0.44. The speaker correction ("Iran told *the panel*") and the undated-statement rule, built on a
list of speech verbs, added nothing on the held-out split and were removed.
"""

from __future__ import annotations

import re

from service.core.text import denial_pattern

# A speaker's stance: "denial", "never" and "baseless" also deny (doubt is an assessment, not a denial).
DENIAL = denial_pattern(r"denial", r"never", r"baseless")
_HEDGE = re.compile(r"\b(likely|unlikely|uncertain|may|might|possibly|probably|assess\w*|believ\w*)\b", re.I)


def stance_from_cues(stance: str, evidence: str) -> str:
    """Keep the model's stance unless the evidence's wording contradicts it.

    Denial wording (denied, rejected, false, fabricated, ...) makes a claim `denies`; a `denies` without
    any such wording becomes `assesses` when hedged (likely, uncertain, ...) and `asserts` otherwise.
    """
    if DENIAL.search(evidence):
        return "denies"
    if stance == "denies":
        return "assesses" if _HEDGE.search(evidence) else "asserts"
    return stance
