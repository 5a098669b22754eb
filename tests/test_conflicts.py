"""Rule-detected candidate disagreements on hand-made sentences."""

from __future__ import annotations

from service.summarize.conflicts import candidate_conflicts


def test_numbers_and_denials_across_reports() -> None:
    units = [
        ("At least 4 of the new missiles appeared in the parade in Pyongyang.", "a"),
        ("The observatory counted only 2 of the new missiles in the parade in Pyongyang.", "b"),
        ("Iran denied receiving missile parts from North Korea.", "c"),
        ("The panel found Iran received missile parts from North Korea.", "d"),
        ("4 new missiles appeared in the parade in Pyongyang, the broadcast showed.", "a"),  # same report
        ("Weather was mild in Geneva.", "e"),
    ]
    found = {(c.a, c.b): c.reason for c in candidate_conflicts(units, limit=10)}
    assert found[(1, 2)] == "numbers differ: 4 vs 2"
    assert found[(3, 4)] == "one report denies or doubts what the other states"
    assert (1, 5) not in found and not any(6 in pair for pair in found)


def test_no_conflict_without_shared_subject() -> None:
    assert candidate_conflicts([("2 ships sailed.", "a"), ("4 planes flew.", "b")]) == []


def test_different_dates_are_no_contradiction() -> None:
    units = [
        ("The panel reviewed the missile cooperation findings on 11 February 2021.", "a"),
        ("The panel reviewed the missile cooperation findings in 2020.", "b"),
    ]
    assert candidate_conflicts(units) == []


def test_numbers_written_in_words_are_numbers_too() -> None:
    units = [
        ("Four of the new missiles appeared in the parade in Pyongyang.", "a"),
        ("The observatory counted only two of the new missiles in the parade in Pyongyang.", "b"),
    ]
    (found,) = candidate_conflicts(units)
    assert found.reason == "numbers differ: 4 vs 2"
