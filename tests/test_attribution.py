"""Speaker and stance checks of claims against their sentence."""

from __future__ import annotations

from service.extract.attribution import attributed_speaker, correct_speaker, stance_from_cues

IRAN = "In response to the allegations, Iran told the panel members that “false information” may have been used."


def test_attributed_subject() -> None:
    assert attributed_speaker(IRAN) == ("Iran", IRAN.index(" the panel"))
    found = attributed_speaker("Secretary of State Antony Blinken has said the review goes on.")
    assert found is not None and found[0] == "Secretary of State Antony Blinken"
    assert attributed_speaker("The panel cited an assessment.") is None


def test_speaker_taken_from_the_object_is_corrected() -> None:
    assert correct_speaker("the panel members", IRAN) == "Iran"
    assert correct_speaker("Iran", IRAN) == "Iran"
    quoted = "“Parts moved in 2020,” an independent panel of experts on North Korea said in the report."
    assert correct_speaker("an independent panel of experts", quoted) == "an independent panel of experts"


def test_stance_cues() -> None:
    assert stance_from_cues("asserts", IRAN) == "denies"
    assert stance_from_cues("denies", "It is uncertain whether the DPRK developed re-entry vehicles.") == "assesses"
    assert stance_from_cues("denies", "The panel met in March.") == "asserts"
    assert stance_from_cues("reports", "The panel met in March.") == "reports"
