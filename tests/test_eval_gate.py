"""The regression gate: floors, tolerances against the baseline, flipped items, and a real synthetic regression."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.evaluation import gate as g
from service.evaluation.scoring import denominators, totals
from tests.conftest import MODELS_DIR, ROOT

TH = g.Thresholds(
    floors={"qa.citation_precision": 0.8}, tolerance={"qa.abstention_recall": 0.1}, default_tolerance=0.05
)


def result(metrics: dict[str, float | None], passed: dict[str, bool]) -> dict[str, Any]:
    return {
        "run": "r1",
        "created": "now",
        "subset": "ci",
        "suites": ["qa"],
        "model": "m",
        "settings_hash": "h",
        "prompts": {},
        "metrics": metrics,
        "items": [{"id": k, "passed": v} for k, v in passed.items()],
    }


def test_unchanged_run_passes_and_regression_names_metric_delta_and_items(tmp_path: Path) -> None:
    base_run = result({"qa.citation_precision": 0.9, "qa.abstention_recall": 1.0}, {"qa:u01": True, "qa:q01": True})
    path = tmp_path / "baseline.json"
    g.accept(path, base_run)
    baseline = g.load_baseline(path)
    assert g.check(base_run, baseline, TH).passed

    worse = result({"qa.citation_precision": 0.85, "qa.abstention_recall": 0.6}, {"qa:u01": False, "qa:q01": True})
    out = g.check(worse, baseline, TH)
    assert not out.passed
    assert [f.metric for f in out.failures] == ["qa.abstention_recall"]
    assert "0.400 below the baseline 1.000" in out.failures[0].reason
    assert out.regressed == ["qa:u01"]
    # within tolerance (default 0.05) and above the floor: passes
    assert g.check(result({"qa.citation_precision": 0.86}, {}), baseline, TH).passed


def test_floor_and_missing_data_fail_without_a_baseline() -> None:
    out = g.check(result({"qa.citation_precision": 0.5}, {}), {}, TH)
    assert not out.baseline_found and [f.metric for f in out.failures] == ["qa.citation_precision"]
    assert "under its floor" in out.failures[0].reason
    assert not g.check(result({"qa.citation_precision": None}, {}), {}, TH).passed


def test_accept_merges_suites_run_separately(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    g.accept(path, result({"qa.citation_precision": 0.9}, {"qa:q01": True}))
    other = result({"summary.key_point_recall": 0.7}, {"summary:d:0": True}) | {"suites": ["summary"]}
    g.accept(path, other)
    entry = json.loads(path.read_text())["m/ci"]
    assert entry["metrics"] == {"qa.citation_precision": 0.9, "summary.key_point_recall": 0.7}
    assert set(entry["items"]) == {"qa:q01", "summary:d:0"} and entry["suites"] == ["qa", "summary"]


def test_thresholds_file_loads_with_model_overrides(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('[floors]\n"a" = 0.5\n[tolerance]\ndefault = 0.2\n"b" = 0.0\n[models."small".floors]\n"a" = 0.1\n')
    th = g.load_thresholds(f, "small")
    assert th.floors == {"a": 0.1} and th.tolerance_for("b") == 0.0 and th.tolerance_for("zzz") == 0.2
    assert g.load_thresholds(ROOT / "evals" / "thresholds.toml", "qwen2.5-coder-1.5b").gated


def _eval(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    cache = os.environ.get("DOSSIER_TEST_EVAL_CACHE", str(ROOT / "evals" / ".cache"))
    full_env = {
        **os.environ,
        "DOSSIER_DATA_DIR": str(tmp / "data"),
        "DOSSIER_MODELS_DIR": str(MODELS_DIR),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    cmd = [
        sys.executable,
        "-m",
        "service.cli",
        "eval",
        "--suite",
        "qa",
        "--subset",
        "ci",
        "--gate",
        "--reports-dir",
        str(tmp / "reports"),
        "--cache-dir",
        cache,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=1800, check=False)


@pytest.mark.e2e
def test_gate_passes_unchanged_and_fails_when_citation_verification_is_off(tmp_path: Path) -> None:
    """Real model, real Chroma, committed baseline. The response cache (keyed by model, prompt and
    parameters) makes the second run cheap: turning verification off changes no prompt, only what
    Dossier does with the model's answers."""
    ok = _eval(tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "gate passed" in ok.stderr
    reports = list((tmp_path / "reports").glob("*/report.md"))
    assert len(reports) == 1 and (reports[0].parent / "chart.png").stat().st_size > 1000
    results = json.loads((reports[0].parent / "results.json").read_text())
    assert len([i for i in results["items"] if i["suite"] == "qa"]) >= 15

    bad = _eval(tmp_path, DOSSIER_VERIFY_CITATIONS="false")
    assert bad.returncode == 1, bad.stderr[-3000:]
    text = " ".join(bad.stderr.split())  # rich wraps long lines
    assert "gate FAILED" in text
    assert "gate: qa.abstention_recall:" in text or "gate: qa.citation_precision:" in text
    assert "below the baseline" in text or "under its floor" in text
    assert "items that passed in the baseline and fail now: qa:u" in text


# -- the decision rule on recorded results --------------------------------------------------------------------
# tests/data/gate/: `dossier eval --suite all --subset ci` with the embedded 1.5B model (ci-run.json), and the
# same with DOSSIER_VERIFY_CITATIONS=false, the synthetic regression (ci-noverify.json). Items only: what the
# metrics are computed from.
RECORDED = ROOT / "tests" / "data" / "gate"
THRESHOLDS = g.load_thresholds(ROOT / "evals" / "thresholds.toml", "qwen2.5-coder-1.5b")


def _recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return _rescored(data)


def _rescored(run: dict[str, Any]) -> dict[str, Any]:
    run["metrics"] = totals(run["items"], run["suites"], k=8)
    run["counts"] = denominators(run["items"], run["suites"], k=8)
    return run


def _baseline_of(run: dict[str, Any], tmp: Path) -> dict[str, Any]:
    g.accept(tmp / "baseline.json", run)
    return g.load_baseline(tmp / "baseline.json")


def test_mcnemar_exact_one_sided() -> None:
    assert g.mcnemar_p(0, 0) == 1.0 and g.mcnemar_p(1, 0) == 0.5 and g.mcnemar_p(2, 0) == 0.25
    assert g.mcnemar_p(5, 0) == pytest.approx(1 / 32) and g.mcnemar_p(4, 1) == pytest.approx(6 / 32)
    assert g.mcnemar_p(3, 3) > 0.5


def test_recorded_run_passes_against_itself(tmp_path: Path) -> None:
    run = _recorded("ci-run.json")
    out = g.check(run, _baseline_of(run, tmp_path), THRESHOLDS)
    assert out.passed and not out.regressed and not out.improved, out.failures


def test_one_flipped_citation_passes(tmp_path: Path) -> None:
    run = _recorded("ci-run.json")
    baseline = _baseline_of(run, tmp_path)
    flipped = _rescored(copy.deepcopy(run))
    doc = next(i for i in flipped["items"] if i.get("citations_correct", 0) > 0)
    doc["citations_correct"] -= 1  # one summary citation now lands outside the gold span
    flipped = _rescored(flipped)
    before, after = run["metrics"]["summary.citation_precision"], flipped["metrics"]["summary.citation_precision"]
    assert after < before - 0.1  # more than the old fixed tolerance: the case that failed on another CPU
    assert g.check(flipped, baseline, THRESHOLDS).passed
    doc["citations_correct"] -= 1  # two flipped citations are a regression
    assert not g.check(_rescored(flipped), baseline, THRESHOLDS).passed


def test_one_flipped_answer_passes(tmp_path: Path) -> None:
    run = _recorded("ci-run.json")
    baseline = _baseline_of(run, tmp_path)
    flipped = copy.deepcopy(run)
    item = next(i for i in flipped["items"] if i["suite"] == "qa" and i["answerable"] and i["passed"])
    item.update(correct=False, passed=False, abstained=True, cited=[])
    out = g.check(_rescored(flipped), baseline, THRESHOLDS)
    assert out.passed, out.failures
    assert out.regressed == [item["id"]]
    assert [(f.suite, f.failed) for f in out.flips if f.regressed] == [("qa", False)]


def test_the_synthetic_regression_fails(tmp_path: Path) -> None:
    run, bad = _recorded("ci-run.json"), _recorded("ci-noverify.json")
    out = g.check(bad, _baseline_of(run, tmp_path), THRESHOLDS)
    assert not out.passed
    failed = {f.metric for f in out.failures}
    assert "qa.abstention_recall" in failed and "qa.items" in failed, out.failures
    qa = next(f for f in out.flips if f.suite == "qa")
    assert qa.failed and len(qa.regressed) >= 3 and all(i.startswith("qa:u") for i in qa.regressed)


def test_one_item_of_six_stored_to_four_decimals_passes(tmp_path: Path) -> None:
    """2/3 is stored as 0.6667; dropping to 3/6 is exactly one item's worth and must pass, two must not."""
    th = g.Thresholds(floors={}, tolerance={"squad.abstention_recall": 0.0}, default_tolerance=0.05)
    base_run = result({"squad.abstention_recall": round(4 / 6, 4)}, {}) | {"counts": {"squad.abstention_recall": 6}}
    path = tmp_path / "baseline.json"
    g.accept(path, base_run)
    baseline = g.load_baseline(path)
    one = result({"squad.abstention_recall": round(3 / 6, 4)}, {}) | {"counts": {"squad.abstention_recall": 6}}
    two = result({"squad.abstention_recall": round(2 / 6, 4)}, {}) | {"counts": {"squad.abstention_recall": 6}}
    assert g.check(one, baseline, th).passed
    assert not g.check(two, baseline, th).passed
