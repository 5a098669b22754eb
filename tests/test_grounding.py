"""Span narrowing, date normalisation and fact merging on hand-made cases."""

from __future__ import annotations

from service.ask.evidence import Evidence as AskEvidence
from service.core.dates import normalise_date
from service.core.spans import narrow
from service.domain.facts import Evidence, Fact
from service.domain.models import Passage, ScoredPassage
from service.extract.merge import merge_duplicates, merge_entities

TEXT = "Intro. The drones were a “Mavic 2 Pro type” made by China’s SZ DJI Technology Co. Ltd. in Shenzhen."


def _sentence() -> tuple[int, int]:
    return 7, len(TEXT)


def test_exact_is_case_and_quote_insensitive() -> None:
    s, e = _sentence()
    span = narrow('"mavic 2 pro type"', TEXT, s, e)
    assert span is not None and span.grounding == "exact"
    assert TEXT[span.start : span.end] == "Mavic 2 Pro type"
    span = narrow("China's SZ DJI", TEXT, s, e)
    assert span is not None and TEXT[span.start : span.end] == "China’s SZ DJI"


def test_fuzzy_alignment_snaps_to_words() -> None:
    s, e = _sentence()
    span = narrow("SZ DJI Technologies Co", TEXT, s, e)
    assert span is not None and span.grounding == "fuzzy"
    assert TEXT[span.start : span.end].startswith("SZ DJI Technology")


def test_not_found_and_outside_the_sentence() -> None:
    s, e = _sentence()
    assert narrow("Kalashnikov Concern", TEXT, s, e) is None
    assert narrow("Intro", TEXT, s, e) is None  # present in the text, but not in the sentence
    assert narrow("", TEXT, s, e) is None
    assert narrow("Co", TEXT, s, e) is not None  # short keys: exact only
    assert narrow("Cx", TEXT, s, e) is None


def test_dates() -> None:
    assert normalise_date("10 October 2020") == "2020-10-10"
    assert normalise_date("September 2020") == "2020-09"
    assert normalise_date("on Feb. 9, 2021") == "2021-02-09"
    assert normalise_date("in 2020") == "2020"
    assert normalise_date("2021-02-09") == "2021-02-09"
    assert normalise_date("last year") is None
    assert normalise_date(None) is None


def _ev(start: int) -> Evidence:
    return Evidence(document_id="d", start=start, end=start + 3, text="xyz")


def _entity(name: str, type_: str, start: int, aliases: list[str] | None = None) -> Fact:
    return Fact(kind="entities", fields={"name": name, "type": type_, "aliases": aliases or []}, evidence=[_ev(start)])


def test_alias_merge() -> None:
    """Shared names, the model's aliases and acronyms merge; a place never merges with a state (no name table)."""
    merged = merge_entities(
        [
            _entity("North Korea", "country", 0, aliases=["DPRK"]),
            _entity("DPRK", "country", 10),
            _entity("North Korea", "country", 20, aliases=["Pyongyang"]),
            _entity("Pyongyang", "place", 30),
            _entity("United Nations", "organization", 40),
            _entity("UN", "organization", 50),
            _entity("Iran", "country", 60, aliases=["Islamic Republic"]),
            _entity("Islamic Republic", "country", 70),
        ]
    )
    by_name = {f.fields["name"]: f for f in merged}
    nk = by_name["North Korea"]
    assert set(nk.fields["aliases"]) == {"DPRK", "Pyongyang"}
    assert [e.start for e in nk.evidence] == [0, 10, 20]
    assert "Pyongyang" in by_name and by_name["Pyongyang"].fields["type"] == "place"  # the city stays apart
    assert by_name["United Nations"].fields["aliases"] == ["UN"]
    assert by_name["Iran"].fields["aliases"] == ["Islamic Republic"] and len(by_name["Iran"].evidence) == 2
    assert len(merged) == 4


def test_duplicate_claims_collapse_with_all_evidence() -> None:
    a = Fact(
        kind="claims",
        fields={"statement": "Iran rejected the panel's information", "speaker": "Iran"},
        evidence=[_ev(0)],
    )
    b = Fact(
        kind="claims", fields={"statement": "Iran rejected the panel’s information.", "speaker": ""}, evidence=[_ev(9)]
    )
    c = Fact(kind="claims", fields={"statement": "DJI has yet to respond", "speaker": "panel"}, evidence=[_ev(20)])
    merged = merge_duplicates([a, b, c], "statement")
    assert len(merged) == 2
    assert [e.start for e in merged[0].evidence] == [0, 9] and merged[0].fields["speaker"] == "Iran"


def _shown(sentences: list[str]) -> AskEvidence:
    hits = [
        ScoredPassage(
            passage=Passage(id=f"d:{i:05d}", document_id="d", index=i, start=0, end=len(t), text=t, title="d"),
            score=1.0,
            similarity=0.5,
        )
        for i, t in enumerate(sentences)
    ]
    return AskEvidence("q", hits, {})


def test_a_miscited_sentence_is_grounded_on_the_passage_that_states_it() -> None:
    """The model numbered its source wrong: the shown passage that covers the sentence (and holds its number) takes
    the citation, flagged repaired, and the number check passes on it."""
    ev = _shown(["Sanctions were renewed in May.", "The most recent shipment took place in 2020, the panel wrote."])
    g = ev.ground("The most recent shipment took place in 2020.", [1])
    assert g.cited == [2] and g.repaired and not g.problem
    assert g.signals["cover"] == 1.0


def test_a_sentence_citing_its_source_is_left_alone() -> None:
    ev = _shown(["The most recent shipment took place in 2020.", "Sanctions were renewed in May 2020."])
    g = ev.ground("The most recent shipment took place in 2020.", [1])
    assert g.cited == [1] and not g.repaired and not g.problem


def test_a_number_no_shown_passage_states_stays_a_problem() -> None:
    ev = _shown(["The most recent shipment took place last year.", "Sanctions were renewed in May."])
    g = ev.ground("The most recent shipment took place in 2019.", [2])
    assert g.problem == "numbers not in cited passages: 2019" and 1 in g.cited and g.repaired
