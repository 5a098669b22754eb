"""The regression gate: floors, tolerances worth at least one item, and a paired test of flipped items.

A run fails the gate when
- a gated metric is under its floor (`evals/thresholds.toml`, `[floors]`), or
- a gated metric is below its baseline (`evals/baseline.json`) by more than its allowance: the larger of its
  configured tolerance and the worth of one item of that metric (1/n, n its smaller denominator of the two
  runs), so one flipped citation or answer never fails a metric on its own, or
- in some suite, items flipped from pass to fail significantly more often than the reverse: an exact one-sided
  McNemar test on the discordant pairs (b regressed, c improved) gives p < `alpha` and b - c >= `min_net_flips`.

Greedy decoding is deterministic on one machine and build, not across CPUs (other kernels round differently),
so the gate decides on paired evidence rather than on any single item.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.domain.errors import ConfigurationError


@dataclass
class Thresholds:
    """Floors and tolerances of the gated metrics (higher is better for every gated metric)."""

    floors: dict[str, float]
    tolerance: dict[str, float]
    default_tolerance: float
    alpha: float = 0.10
    min_net_flips: int = 2

    @property
    def gated(self) -> set[str]:
        return set(self.floors) | set(self.tolerance)

    def tolerance_for(self, metric: str) -> float:
        return self.tolerance.get(metric, self.default_tolerance)

    def allowance(self, metric: str, n: int | None) -> float:
        """How far below the baseline a metric may fall: its tolerance, or one item's worth if that is more."""
        tol = self.tolerance_for(metric)
        return max(tol, 1.0 / n) if n else tol


def load_thresholds(path: Path, model: str) -> Thresholds:
    """`[floors]` and `[tolerance]` (with `default`), overridden by `[models."<model>".floors]` if present."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    floors = {str(k): float(v) for k, v in raw.get("floors", {}).items()}
    floors |= {str(k): float(v) for k, v in raw.get("models", {}).get(model, {}).get("floors", {}).items()}
    tol = {str(k): float(v) for k, v in raw.get("tolerance", {}).items()}
    default = tol.pop("default", 0.05)
    rule = raw.get("gate", {})
    return Thresholds(
        floors, tol, default, alpha=float(rule.get("alpha", 0.10)), min_net_flips=int(rule.get("min_net_flips", 2))
    )


def baseline_key(result: dict[str, Any]) -> str:
    return f"{result['model']}/{result['subset']}"


def load_baseline(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid JSON: {exc}") from exc
    return data


def baseline_entry(result: dict[str, Any]) -> dict[str, Any]:
    """What the baseline keeps of a run: its metrics and each item's pass/fail."""
    return {
        "run": result["run"],
        "created": result["created"],
        "git": result.get("git"),
        "settings_hash": result["settings_hash"],
        "prompts": result["prompts"],
        "suites": result["suites"],
        "metrics": result["metrics"],
        "counts": result.get("counts", {}),
        "machine": result.get("machine"),
        "items": {i["id"]: bool(i["passed"]) for i in result["items"]},
    }


def accept(path: Path, result: dict[str, Any]) -> str:
    """Write this run into the baseline under `<model>/<subset>`, merging suites run separately."""
    data = load_baseline(path)
    key = baseline_key(result)
    new = baseline_entry(result)
    old = data.get(key)
    if old:
        suites = set(result["suites"])
        kept_metrics = {k: v for k, v in old["metrics"].items() if k.split(".")[0] not in suites}
        kept_items = {k: v for k, v in old["items"].items() if k.split(":")[0] not in suites}
        new["metrics"] = kept_metrics | new["metrics"]
        kept_counts = {k: v for k, v in old.get("counts", {}).items() if k.split(".")[0] not in suites}
        new["counts"] = kept_counts | new["counts"]
        new["items"] = kept_items | new["items"]
        new["suites"] = sorted(set(old["suites"]) | suites)
    data[key] = new
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return key


@dataclass
class GateFailure:
    metric: str
    value: float | None
    reason: str


@dataclass
class FlipTest:
    """Paired comparison of one suite's items against the baseline."""

    suite: str
    regressed: list[str]
    improved: list[str]
    p_value: float
    failed: bool


@dataclass
class GateOutcome:
    failures: list[GateFailure] = field(default_factory=list)
    regressed: list[str] = field(default_factory=list)
    improved: list[str] = field(default_factory=list)
    flips: list[FlipTest] = field(default_factory=list)
    baseline_found: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures


def mcnemar_p(regressed: int, improved: int) -> float:
    """Exact one-sided McNemar p-value: P(X >= regressed) for X ~ Binomial(regressed + improved, 1/2)."""
    n = regressed + improved
    if n == 0:
        return 1.0
    tail: int = sum(math.comb(n, k) for k in range(regressed, n + 1))
    whole: int = 2**n
    p: float = tail / whole  # int / int: exact big integers, one rounding at the end
    return p


def _smaller(a: object, b: object) -> int | None:
    ns = [int(x) for x in (a, b) if isinstance(x, int | float) and x > 0]
    return min(ns) if ns else None


ROUNDING = 1e-4  # metrics are stored to 4 decimals: 2/3 is kept as 0.6667, and one item's worth must still pass


def check(result: dict[str, Any], baseline: dict[str, Any], th: Thresholds) -> GateOutcome:
    """Floors, per-metric allowances against the baseline, and the paired flip test per suite."""
    base = baseline.get(baseline_key(result))
    out = GateOutcome(baseline_found=base is not None)
    metrics: dict[str, float | None] = result["metrics"]
    counts: dict[str, int] = result.get("counts", {})
    for name in sorted(th.gated):
        if name not in metrics:
            continue  # its suite did not run
        value = metrics[name]
        floor = th.floors.get(name)
        if value is None:
            if floor is not None:
                out.failures.append(GateFailure(name, None, f"n/a (no data); floor {floor:.2f}"))
            continue
        if floor is not None and value < floor - 1e-9:
            out.failures.append(GateFailure(name, value, f"{value:.3f} is under its floor {floor:.2f}"))
        ref = base["metrics"].get(name) if base else None
        if ref is None or base is None:
            continue
        allowed = th.allowance(name, _smaller(counts.get(name), base.get("counts", {}).get(name)))
        if value < ref - allowed - ROUNDING:
            reason = f"{value:.3f} is {ref - value:.3f} below the baseline {ref:.3f} (allowed {allowed:.3f})"
            out.failures.append(GateFailure(name, value, reason))
    if base:
        _flip_tests(result, base, th, out)
    return out


def _flip_tests(result: dict[str, Any], base: dict[str, Any], th: Thresholds, out: GateOutcome) -> None:
    before: dict[str, bool] = base["items"]
    by_suite: dict[str, tuple[list[str], list[str]]] = {}
    for item in result["items"]:
        was = before.get(item["id"])
        worse, better = by_suite.setdefault(item["id"].split(":")[0], ([], []))
        if was is True and not item["passed"]:
            worse.append(item["id"])
            out.regressed.append(item["id"])
        elif was is False and item["passed"]:
            better.append(item["id"])
            out.improved.append(item["id"])
    for suite, (worse, better) in sorted(by_suite.items()):
        p = mcnemar_p(len(worse), len(better))
        failed = p < th.alpha and len(worse) - len(better) >= th.min_net_flips
        out.flips.append(FlipTest(suite, worse, better, p, failed))
        if failed:
            reason = (
                f"{len(worse)} items regressed and {len(better)} improved "
                f"(McNemar exact one-sided p = {p:.3f} < {th.alpha}): {', '.join(worse)}"
            )
            out.failures.append(GateFailure(f"{suite}.items", None, reason))
