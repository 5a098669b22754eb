"""Reciprocal rank fusion on hand-made rankings."""

from __future__ import annotations

import pytest

from service.ask.retrieval import reciprocal_rank_fusion


def test_rrf_scores_and_order() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    order = [pid for pid, _ in reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]])]
    assert order == ["b", "a", "d", "c"]  # d: 1/62 beats c: 1/63


def test_rrf_ties_break_by_id_and_empty_lists() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert [p for p, _ in reciprocal_rank_fusion([["y"], ["x"]])] == ["x", "y"]
