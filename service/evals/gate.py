"""The regression gate: absolute floors (`evals/thresholds.toml`) and tolerances against `evals/baseline.json`."""

from __future__ import annotations

import json
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

    @property
    def gated(self) -> set[str]:
        return set(self.floors) | set(self.tolerance)

    def tolerance_for(self, metric: str) -> float:
        return self.tolerance.get(metric, self.default_tolerance)


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
    return Thresholds(floors, tol, default)


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
class GateOutcome:
    failures: list[GateFailure] = field(default_factory=list)
    regressed: list[str] = field(default_factory=list)
    improved: list[str] = field(default_factory=list)
    baseline_found: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures


def check(result: dict[str, Any], baseline: dict[str, Any], th: Thresholds) -> GateOutcome:
    """Every gated metric of the run: at or above its floor, and not more than its tolerance below baseline."""
    base = baseline.get(baseline_key(result))
    out = GateOutcome(baseline_found=base is not None)
    metrics: dict[str, float | None] = result["metrics"]
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
        if ref is not None and value < ref - th.tolerance_for(name) - 1e-9:
            out.failures.append(
                GateFailure(
                    name,
                    value,
                    f"{value:.3f} is {ref - value:.3f} below the baseline {ref:.3f} "
                    f"(tolerance {th.tolerance_for(name):.2f})",
                )
            )
    if base:
        before: dict[str, bool] = base["items"]
        for item in result["items"]:
            was = before.get(item["id"])
            if was is True and not item["passed"]:
                out.regressed.append(item["id"])
            elif was is False and item["passed"]:
                out.improved.append(item["id"])
    return out
