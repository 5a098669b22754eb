"""The golden set is well-formed: enough items of each kind, verbatim quotes, a stratified CI subset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from service.domain.errors import ConfigurationError
from service.evaluation.golden import load_golden
from tests.conftest import EXAMPLES, ROOT

GOLDEN = ROOT / "evals" / "golden"


def test_golden_set_meets_the_brief() -> None:
    g = load_golden(GOLDEN, EXAMPLES)  # raises on any quote that is not verbatim in its report
    assert len(g.qa) >= 40
    cats = Counter(i.category for i in g.qa)
    assert set(cats) == {"single", "multi", "numeric", "date", "attribution", "contradiction", "unanswerable"}
    assert cats["unanswerable"] / len(g.qa) >= 0.25
    assert len(g.extraction) >= 5 and len(g.summaries) >= 5 and len(g.injection) >= 5
    kinds = {k for e in g.extraction for k, facts in e.facts.items() if facts}
    assert kinds == {"entities", "events", "claims", "quantities"}
    assert {c.technique for c in g.injection} >= {"plain", "html-comment", "split-sentences", "base64", "link"}


def test_ci_subset_is_stratified() -> None:
    ci = load_golden(GOLDEN, EXAMPLES).subset("ci")
    assert {i.category for i in ci.qa} == {
        "single",
        "multi",
        "numeric",
        "date",
        "attribution",
        "contradiction",
        "unanswerable",
    }
    assert ci.extraction and ci.summaries and len(ci.injection) == 11  # every case of both injection sets
    assert all(c.questions for c in ci.injection)
    assert {c.set for c in ci.injection} == {"lexical", "paraphrased"}
    assert all(c.collection == "injection-paraphrased" for c in ci.injection if c.set == "paraphrased")


def test_a_quote_that_is_not_verbatim_is_refused(tmp_path: Path) -> None:
    for name in ("qa.jsonl", "extraction.jsonl", "summaries.jsonl"):
        (tmp_path / name).write_text((GOLDEN / name).read_text())
    (tmp_path / "injection").symlink_to(GOLDEN / "injection")
    qa = (GOLDEN / "qa.jsonl").read_text().replace("Four of the new missiles appeared", "Five of the new missiles")
    (tmp_path / "qa.jsonl").write_text(qa)
    with pytest.raises(ConfigurationError, match="not verbatim"):
        load_golden(tmp_path, EXAMPLES)


def test_the_held_out_split_is_apart_and_big_enough() -> None:
    g = load_golden(GOLDEN, EXAMPLES)
    held = [i for i in g.qa if i.split == "heldout"]
    reports = {p.stem for p in (GOLDEN / "heldout" / "reports").glob("*.txt")}
    assert len(reports) >= 4 and len(held) >= 40
    assert sum(not i.answerable for i in held) / len(held) >= 1 / 3
    for split in ("dev", "heldout"):  # a seeded sample of >= 100 SQuAD questions each, about half unanswerable
        squad = [i for i in g.squad if i.split == split]
        assert len(squad) >= 100 and 0.4 <= sum(not i.answerable for i in squad) / len(squad) <= 0.6
    assert sum(len(f) for e in g.extraction if e.split == "heldout" for f in e.facts.values()) >= 20
    assert len([s for s in g.summaries if s.split == "heldout"]) >= 3
    assert {ev.document for i in held for ev in i.evidence} <= reports  # asked of its own reports only
    assert not reports & {p.stem for p in EXAMPLES.glob("*.txt")}
    ci = g.subset("ci")
    assert any(i.split == "heldout" for i in ci.qa) and any(e.split == "heldout" for e in ci.extraction)


def test_entity_pairs_of_both_splits_are_loaded_with_both_labels() -> None:
    g = load_golden(GOLDEN, EXAMPLES)
    for split in ("dev", "heldout"):
        pairs = [p for p in g.entity_pairs if p.split == split]
        assert len(pairs) >= 30 and {p.same for p in pairs} == {True, False}, split
