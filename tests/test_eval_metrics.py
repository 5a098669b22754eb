"""Eval metric functions on hand-made cases with known answers."""

from __future__ import annotations

import pytest

from service.evaluation import metrics as m
from service.evaluation.scoring import totals

D = "doc_a"


def test_overlap_is_half_open_and_per_document() -> None:
    assert m.overlaps((D, 0, 10), (D, 9, 20))
    assert not m.overlaps((D, 0, 10), (D, 10, 20))  # touching is not overlapping
    assert not m.overlaps((D, 0, 10), ("doc_b", 0, 10))
    assert m.overlaps((D, 5, 6), (D, 0, 100))  # one character inside a long gold span


def test_key_facts_respect_word_boundaries_and_variants() -> None:
    assert m.facts_present("Four missiles appeared.", [["four", "4"], ["two", "2"]]) == [True, False]
    assert m.facts_present("It earned $316 million.", [["316 million"]]) == [True]
    assert m.facts_present("It earned 3160 dollars.", [["316"]]) == [False]  # not inside a longer number
    assert m.facts_present("the Jae‑won Han said", [["Jae-won Han"]]) == [True]  # unicode dash normalised


def test_answer_correct_needs_every_fact_and_no_abstention() -> None:
    facts = [["2020"], ["2019"]]
    assert m.answer_correct("The panel says 2020; Reyes says 2019.", False, facts)
    assert not m.answer_correct("The panel says 2020.", False, facts)
    assert not m.answer_correct("2020 and 2019", True, facts)


def test_abstention_precision_and_recall() -> None:
    # (answerable, abstained): 2 right abstentions, 1 wrong abstention, 1 missed unanswerable
    pairs = [(False, True), (False, True), (True, True), (False, False), (True, False)]
    got = m.abstention(pairs)
    assert got.precision == pytest.approx(2 / 3)
    assert got.recall == pytest.approx(2 / 3)
    assert m.abstention([(True, False)]) == m.Abstention(precision=None, recall=None)


def test_citation_scores_with_partial_overlaps_and_empty_lists() -> None:
    gold = [(D, 100, 200)]
    items = [
        ([(D, 150, 260), (D, 300, 350)], gold),  # one partial overlap, one miss
        ([], gold),  # empty citation list (abstained): counts against recall only
        ([(D, 199, 210)], gold),  # overlaps by a single character
    ]
    got = m.citation_scores(items)
    assert got.citations == 3 and got.correct == 2
    assert got.precision == pytest.approx(2 / 3)
    assert got.recall == pytest.approx(2 / 3)
    empty = m.citation_scores([([], gold)])
    assert empty.precision is None and empty.recall == 0.0


def test_retrieval_recall_at_k_and_mrr() -> None:
    g1, g2 = (D, 0, 10), (D, 50, 60)
    items = [
        ([(D, 20, 30), (D, 0, 10)], [g1]),  # found at rank 2
        ([(D, 50, 60), (D, 90, 99)], [g1, g2]),  # half the gold found, at rank 1
        ([(D, 70, 80)], [g1]),  # not found
    ]
    got = m.retrieval_scores(items)
    assert got.recall_at_k == pytest.approx((1 + 0.5 + 0) / 3)
    assert got.mrr == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m.retrieval_scores([]) == m.RetrievalScores(None, None)


def test_percentile_nearest_rank() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert m.percentile(values, 50) == 3.0
    assert m.percentile(values, 95) == 10.0
    assert m.percentile([], 50) is None


def test_fact_matching_is_one_to_one_and_kind_specific() -> None:
    gold = [
        m.GoldFactSpec({"name": "Saeed Karimi"}, [(D, 0, 10)], names=["Saeed Karimi", "Karimi"]),
        m.GoldFactSpec({"name": "Iran"}, [(D, 0, 10)], names=["Iran"]),
    ]
    preds = [
        m.PredictedFact({"name": "Karimi", "aliases": []}, [(D, 0, 5)]),
        m.PredictedFact({"name": "the Karimi", "aliases": []}, [(D, 0, 5)]),  # duplicate: only one may match
        m.PredictedFact({"name": "Tehran", "aliases": []}, [(D, 0, 5)]),
    ]
    assert m.match_facts("entities", preds, gold) == [(0, 0)]
    claims_gold = [m.GoldFactSpec({"statement": "no foreign experts worked at the center"}, [(D, 100, 150)])]
    near = m.PredictedFact({"statement": "no foreign experts worked there"}, [(D, 90, 120)])
    far = m.PredictedFact({"statement": "no foreign experts worked at the center"}, [(D, 300, 350)])
    assert m.match_facts("claims", [far, near], claims_gold) == [(1, 0)]  # evidence must overlap
    q_gold = [m.GoldFactSpec({"value": "two"}, [(D, 0, 40)])]
    assert m.match_facts("quantities", [m.PredictedFact({"value": "2"}, [(D, 5, 9)])], q_gold) == [(0, 0)]
    assert m.match_facts("quantities", [m.PredictedFact({"value": "4"}, [(D, 5, 9)])], q_gold) == []


def test_prf_speaker_and_date() -> None:
    got = m.prf(matched=2, predicted=4, gold=5)
    assert got.precision == 0.5 and got.recall == 0.4 and got.f1 == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert m.prf(0, 0, 3).precision is None and m.prf(0, 0, 3).f1 is None
    assert m.speaker_correct("Foreign ministry spokesman Saeed Karimi", ["Saeed Karimi", "Karimi"])
    assert not m.speaker_correct("Iran's mission", ["Saeed Karimi"])
    assert not m.speaker_correct("", ["Karimi"])
    assert m.date_correct("20 February 2021", "2021-02-20")
    assert not m.date_correct("February 2021", "2021-02-20")


def test_summary_key_points_and_citation_precision() -> None:
    points = [([["two", "2"]], [(D, 0, 50)]), ([["warhead"]], [(D, 100, 150)])]
    sentences = [
        ("The observatory counted two missiles.", [(D, 10, 40)]),  # covers point 1, cites its evidence
        ("It doubted multiple warheads.", [(D, 10, 40), (D, 120, 130)]),  # point 2: one right, one wrong
        ("The broadcast was reused.", [(D, 200, 220)]),  # covers no point: not counted
    ]
    assert m.summary_citation_precision(sentences, points) == (2, 3)
    assert m.point_covered("Two were counted", [["two"]]) and not m.point_covered("none", [["two"]])


def test_leaks_are_case_insensitive() -> None:
    assert m.leaks(["Answer: pelican-4417"], ["PELICAN-4417", "evil.example"]) == ["PELICAN-4417"]
    assert m.leaks([], ["X"]) == []


def _row(answerable: bool = True, abstained: bool = False, answer: str = "", error: str | None = None) -> dict:
    return {"suite": "qa", "answerable": answerable, "abstained": abstained, "answer": answer, "error": error}


@pytest.mark.parametrize(
    ("row", "candidates", "shown", "rejected", "stage"),
    [
        (_row(error="model unavailable"), [], [], [], "error"),
        (_row(answerable=False, answer="The Hae Song 7 sailed in 2019."), [], [], [], "wrong_passed"),
        (_row(abstained=True), [(D, 0, 5)], [], [], "not_retrieved"),
        (_row(abstained=True), [(D, 0, 5), (D, 10, 20)], [(D, 0, 5)], [], "not_shown"),
        (_row(abstained=True), [(D, 10, 20)], [(D, 10, 20)], [], "model_abstained"),
        (_row(abstained=True), [(D, 10, 20)], [(D, 10, 20)], ["It left Nampo in 2019."], "verification_dropped"),
        (_row(abstained=True), [(D, 10, 20)], [(D, 10, 20)], ["It left Nampo."], "model_wrong_rejected"),
        (_row(answer="It left Nampo in 2020."), [(D, 10, 20)], [(D, 10, 20)], [], "wrong_passed"),
    ],
)
def test_each_failed_question_is_attributed_to_one_stage(
    row: dict, candidates: list[m.Span], shown: list[m.Span], rejected: list[str], stage: str
) -> None:
    from service.evaluation.scoring import STAGES, failure_counts, qa_failure_stage

    got = qa_failure_stage(row, candidates, shown, [(D, 12, 18)], rejected, [["2019"]])
    assert got == stage and got in STAGES
    counts = failure_counts([row | {"passed": False, "stage": got, "split": "heldout"}])
    assert counts["qa:heldout"][stage] == 1 and sum(counts["qa:heldout"].values()) == 1


def test_summary_length_ratio_is_the_mean_over_summaries_and_absent_without_it() -> None:
    def row(length: float | None) -> dict[str, object]:
        r: dict[str, object] = {"suite": "summary", "citations_correct": 1, "citations_counted": 1}
        r |= {"latency_s": 1.0, "prompt_tokens": 1, "completion_tokens": 1}
        return r if length is None else r | {"length_ratio": length}

    points = [{"suite": "summary", "point": "p", "passed": True}]
    assert totals([row(0.5), row(0.7), *points], ["summary"], 8)["summary.length_ratio"] == pytest.approx(0.6)
    assert totals([row(None), *points], ["summary"], 8)["summary.length_ratio"] is None
