"""Selective-QA metrics and the calibrator fit, on hand-made rows whose answers can be worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml

from service.core.calibration import Calibrator, CalibratorFile
from service.evaluation import selective
from service.evaluation.calibrate import calibrate_command, choose_threshold, fit_model


def row(answerable: bool, confidence: float | None, right: bool, threshold: float = 0.5) -> dict[str, object]:
    answered = confidence is not None and confidence >= threshold
    return {
        "answerable": answerable,
        "confidence": confidence,
        "candidate_correct": right,
        "abstained": not answered,
        "correct": answered and right,
    }


def test_auroc_and_ece_by_hand() -> None:
    assert selective.auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert selective.auroc([0.9, 0.3, 0.8, 0.1], [True, True, False, False]) == 0.75
    assert selective.auroc([0.5, 0.5], [True, False]) == 0.5 and selective.auroc([0.5], [True]) is None
    # two bins: 0.95 (right) and 0.15, 0.15 (one right): |0.95 - 1| * 1 + |0.15 - 0.5| * 2, over 3
    assert selective.ece([0.95, 0.15, 0.15], [True, True, False]) == pytest.approx((0.05 + 0.7) / 3)


def test_metrics_and_the_risk_coverage_curve() -> None:
    rows = [
        row(True, 0.9, True),
        row(True, 0.6, False),
        row(True, 0.2, True),
        row(False, 0.7, False),
        row(False, 0.1, False),
        row(False, None, False),
    ]
    got = selective.metrics("qa", rows)
    assert got["qa.coverage"] == 0.5  # 0.9, 0.6 and 0.7 answered
    assert got["qa.right_decisions"] == 0.5  # the 0.9 answer and two declined unanswerables
    assert got["qa.wrong_of_answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert got["qa.unanswerable_declined"] == pytest.approx(2 / 3, abs=1e-4)
    curve = selective.curve(rows)
    assert curve[-1] == {"threshold": 1.01, "coverage": 0.0, "accuracy": 1.0, "right_decisions": 0.5}
    at_07 = next(p for p in curve if p["threshold"] == 0.7)
    assert at_07["coverage"] == pytest.approx(2 / 6, abs=1e-4) and at_07["accuracy"] == 0.5
    assert at_07["right_decisions"] == pytest.approx(3 / 6, abs=1e-4)
    assert choose_threshold(rows, max_risk=0.0) == 0.9  # the only threshold with no wrong answer given


def test_a_fit_model_ranks_by_its_signal_and_the_fallback_scores_without_log_probabilities() -> None:
    rows = [{"signals": {"p": p / 20, "s": 0.5}, "correct": p > 12} for p in range(20)]
    rows += [{"signals": {"p": 0.9, "s": 0.5}, "correct": False}, {"signals": {"p": 0.1, "s": 0.5}, "correct": True}]
    full = fit_model("full", ["p", "s"], rows, 1.0)
    assert full.probability({"p": 0.95, "s": 0.5}) > 0.7 > 0.3 > full.probability({"p": 0.05, "s": 0.5})
    fallback = fit_model("no_logprobs", ["s"], rows, 1.0)
    spec = CalibratorFile(id="c", version=1, target="t", threshold=0.5, models=[full, fallback])
    scored = Calibrator(spec).score({"p": None, "s": 0.5})
    assert scored is not None and scored.model == "no_logprobs"
    assert Calibrator(spec).score({"s": None}) is None


def test_calibrate_fits_on_dev_rows_only(tmp_path: Path) -> None:
    def q(split: str, p: float, right: bool) -> dict[str, object]:
        signals = {"p_supported": p, "p_answerable": p, "sim_top": 0.5, "cover": p, "partial": 0.8, "cited_sim": 0.4}
        return {
            "suite": "qa",
            "split": split,
            "answerable": True,
            "candidate_correct": right,
            "sentences": [{"signals": signals, "correct": right}],
        }

    run = tmp_path / "results.json"
    run.write_text(json.dumps({"run": "r", "items": [q("heldout", 0.9, True), q("heldout", 0.1, False)]}))
    with pytest.raises(typer.BadParameter, match="no dev QA rows"):
        calibrate_command(run, out=tmp_path / "v9.yaml")
    items = [q("dev", i / 10, i >= 5) for i in range(10)] + [q("dev", 0.8, False), q("dev", 0.2, True)]
    run.write_text(json.dumps({"run": "r", "git": "abc", "model": "m", "items": items}))
    calibrate_command(run, out=tmp_path / "v9.yaml", max_risk=0.2, c=1.0)
    spec = CalibratorFile.model_validate(yaml.safe_load((tmp_path / "v9.yaml").read_text()))
    assert spec.ref == "qa_calibrator/v9" and [m.name for m in spec.models] == ["full", "no_logprobs"]
    assert spec.fit["run"] == "r" and spec.fit["questions"] == 12 and 0.0 < spec.threshold < 1.0
    assert spec.models[0].features == ["p_supported", "p_answerable"]
    assert "dev.auroc" in spec.fit["cross_validated"]  # type: ignore[operator]  # the threshold's out-of-fold evidence
    with pytest.raises(typer.BadParameter, match="unknown signals"):
        calibrate_command(run, out=tmp_path / "v9.yaml", features="p_supported,p_nonsense")
    calibrate_command(run, out=tmp_path / "v9.yaml", features="p_supported,cover", c=1.0)
    spec = CalibratorFile.model_validate(yaml.safe_load((tmp_path / "v9.yaml").read_text()))
    assert spec.models[0].features == ["p_supported", "cover"]


def test_calibrate_adds_a_verified_model_only_when_every_candidate_was_verified(tmp_path: Path) -> None:
    def q(p: float, right: bool, verified: float | None) -> dict[str, object]:
        signals = {"p_supported": p, "p_answerable": p, "sim_top": 0.5, "cover": p, "partial": 0.8, "cited_sim": 0.4}
        if verified is not None:
            signals["p_verified"] = verified
        return {
            "suite": "qa",
            "split": "dev",
            "answerable": True,
            "candidate_correct": right,
            "sentences": [{"signals": signals, "correct": right}],
        }

    run = tmp_path / "results.json"
    every = [q(0.5, i % 2 == 0, 0.9 if i % 2 == 0 else 0.1) for i in range(12)]
    run.write_text(json.dumps({"run": "r", "items": every}))
    calibrate_command(run, out=tmp_path / "v9.yaml")
    spec = CalibratorFile.model_validate(yaml.safe_load((tmp_path / "v9.yaml").read_text()))
    assert [m.name for m in spec.models] == ["verified", "full", "no_logprobs"]
    assert spec.models[0].features == ["p_supported", "p_answerable", "p_verified"] and spec.models[0].coef[2] > 0
    some = every[:6] + [q(0.5, i % 2 == 0, None) for i in range(6)]  # asked in a band only: a biased sample
    run.write_text(json.dumps({"run": "r", "items": some}))
    calibrate_command(run, out=tmp_path / "v9.yaml")
    spec = CalibratorFile.model_validate(yaml.safe_load((tmp_path / "v9.yaml").read_text()))
    assert [m.name for m in spec.models] == ["full", "no_logprobs"]
