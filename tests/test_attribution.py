"""The stance check of claims against their sentence (the one attribution rule with a held-out gain)."""

from __future__ import annotations

from service.extract.attribution import stance_from_cues

IRAN = "In response to the allegations, Iran told the panel members that “false information” may have been used."


def test_stance_cues() -> None:
    assert stance_from_cues("asserts", IRAN) == "denies"
    assert stance_from_cues("denies", "It is uncertain whether the DPRK developed re-entry vehicles.") == "assesses"
    assert stance_from_cues("denies", "The panel met in March.") == "asserts"
    assert stance_from_cues("reports", "The panel met in March.") == "reports"
