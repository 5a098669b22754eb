"""Sentence offsets round-trip on real and tricky text."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.segment import segment
from tests.conftest import EXAMPLES


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.txt")), ids=lambda p: p.name)
def test_offsets_round_trip(path: Path) -> None:
    _round_trip(path)


def test_offsets_round_trip_on_the_seeds(seeds: list[Path]) -> None:
    for path in seeds:
        _round_trip(path)


def _round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    sentences = segment(text)
    assert sentences
    last_end = 0
    for i, s in enumerate(sentences):
        piece = text[s.start : s.end]
        assert s.index == i
        assert piece == piece.strip() and piece
        assert s.start >= last_end
        last_end = s.end
    covered = "".join(text[s.start : s.end] for s in sentences)
    assert covered.replace(" ", "") == "".join(text.split())  # nothing but whitespace is left out


def test_headlines_and_abbreviations() -> None:
    text = "Big Headline\n\nThe U.S. said it. Made by SZ DJI Technology Co. Ltd. in 2020.\n  Second line here."
    got = [text[s.start : s.end] for s in segment(text)]
    assert got[0] == "Big Headline"
    assert "Second line here." in got
    assert any(g.endswith("Co. Ltd. in 2020.") for g in got)


def test_unicode_offsets() -> None:
    text = "“Quoted,” she said — café. Iran’s centre. 北朝鮮の報告。"
    for s in segment(text):
        assert text[s.start : s.end].strip() == text[s.start : s.end]
