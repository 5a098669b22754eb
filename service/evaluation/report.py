"""Writes `evals/reports/<run>/`: results.json, report.md (deltas against the baseline) and chart.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.domain.errors import ConfigurationError
from service.evaluation.gate import GateOutcome, Thresholds
from service.evaluation.scoring import STAGES

COST_SUFFIXES = ("_s", "tokens_mean")


def is_score(metric: str) -> bool:
    """Scores are ratios in [0, 1], higher is better; latency and token metrics are costs."""
    return not metric.endswith(COST_SUFFIXES)


def _fmt(x: float | None, cost: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:.1f}" if cost else f"{x:.3f}"


def _delta(value: float | None, ref: float | None, cost: bool) -> str:
    if value is None or ref is None:
        return ""
    d = value - ref
    return f"{d:+.1f}" if cost else f"{d:+.3f}"


def render_markdown(
    result: dict[str, Any],
    base: dict[str, Any] | None,
    th: Thresholds,
    gate: GateOutcome | None,
    flips: GateOutcome | None = None,
) -> str:
    """Tables per suite: value, baseline, delta, floor, gate status; then flipped and failing items."""
    ref_metrics: dict[str, float | None] = base["metrics"] if base else {}
    lines = [
        f"# Eval run {result['run']}",
        "",
        f"- model: `{result['model']}` · subset: `{result['subset']}` · suites: {', '.join(result['suites'])}",
        f"- prompts: {', '.join(f'`{v}`' for v in result['prompts'].values())} · settings hash "
        f"`{result['settings_hash']}` · git `{result.get('git')}`",
        f"- wall time: {result.get('wall_s', 0):.0f} s · response cache: {result.get('cache') or 'off'}",
        f"- baseline: {base['run'] if base else 'none for this model and subset'}",
    ]
    if gate is not None:
        lines.append(f"- gate: **{'PASSED' if gate.passed else 'FAILED'}**")
    splits: dict[str, dict[str, float | None]] = result.get("splits") or {}
    split_names = sorted(splits) if len(splits) > 1 else []
    for suite in result["suites"]:
        head = "| metric | value | " + "".join(f"{s} | " for s in split_names) + "baseline | delta | floor | gated |"
        lines += ["", f"## {suite}", "", head, "|---" * (6 + len(split_names)) + "|"]
        for name, value in result["metrics"].items():
            if not name.startswith(suite + "."):
                continue
            cost = not is_score(name)
            ref = ref_metrics.get(name)
            floor = th.floors.get(name)
            failed = gate is not None and any(f.metric == name for f in gate.failures)
            mark = "FAIL" if failed else ("yes" if name in th.gated else "")
            per_split = "".join(f"{_fmt(splits[s].get(name), cost)} | " for s in split_names)
            lines.append(
                f"| {name} | {_fmt(value, cost)} | {per_split}{_fmt(ref, cost)} | {_delta(value, ref, cost)} | "
                f"{'' if floor is None else f'{floor:.2f}'} | {mark} |"
            )
        if suite == "qa" and result.get("failures"):
            lines += _failure_table(result["failures"])
    lines += _selective_lines(result.get("selective") or {})
    if gate is not None and gate.failures:
        lines += ["", "## Gate", ""]
        lines += [f"- **{f.metric}**: {f.reason}" for f in gate.failures]
    if flips is not None and flips.flips:
        lines += ["", "## Items that flipped against the baseline", ""]
        lines += ["| suite | pass → fail | fail → pass | McNemar p (one-sided) | decision |", "|---|---|---|---|---|"]
        for f in flips.flips:
            lines.append(
                f"| {f.suite} | {', '.join(f.regressed) or '-'} | {', '.join(f.improved) or '-'} | "
                f"{f.p_value:.3f} | {'regression' if f.failed else 'noise'} |"
            )
    machine = result.get("machine")
    if machine:
        lines += [
            "",
            "## Machine",
            "",
            f"- cpu: {machine['cpu']['model']} · flags {', '.join(machine['cpu']['flags'])}",
        ]
        lines.append(f"- llm: `{json.dumps(machine['llm'])}`")
        if base and base.get("machine"):
            lines.append(f"- baseline cpu: {base['machine']['cpu']['model']}")
    failing = [i for i in result["items"] if not i["passed"]]
    if failing:
        lines += ["", "## Failing items", "", "| item | detail |", "|---|---|"]
        for i in failing:
            lines.append(f"| {i['id']} | {_detail(i)} |")
    return "\n".join(lines) + "\n"


def _selective_lines(selective: dict[str, dict[str, Any]]) -> list[str]:
    """Where the shipped threshold sits on each risk-coverage curve, and the curve at a few coverages."""
    if not selective:
        return []
    lines = [
        "",
        "## Selective answering (risk-coverage)",
        "",
        "Each curve sweeps the confidence threshold: the share of questions answered (coverage), the accuracy of "
        "those answered, and right decisions (right answers plus declined unanswerables) over all questions.",
        "",
        "| suite:split | threshold | coverage | accuracy of answered | right decisions | best right decisions "
        "(threshold) |",
        "|---|---|---|---|---|---|",
    ]
    for key, data in selective.items():
        at, pts = data.get("at_threshold"), data.get("curve") or []
        if not at or not pts:
            continue
        best = max(pts, key=lambda p: p["right_decisions"])
        lines.append(
            f"| {key} | {data['threshold']:.2f} | {at['coverage']:.3f} | {at['accuracy']:.3f} | "
            f"{at['right_decisions']:.3f} | {best['right_decisions']:.3f} ({best['threshold']:.2f}) |"
        )
    return lines


def _failure_table(failures: dict[str, dict[str, int]]) -> list[str]:
    """Failed QA items per stage and split: where to push."""
    names = sorted(failures)
    lines = ["", "Failed QA items by stage:", "", "| stage | " + " | ".join(names) + " | meaning |"]
    lines.append("|---" * (len(names) + 2) + "|")
    for stage, meaning in STAGES.items():
        lines.append(f"| {stage} | " + " | ".join(str(failures[n].get(stage, 0)) for n in names) + f" | {meaning} |")
    return lines


def _detail(item: dict[str, Any]) -> str:
    if item.get("error"):
        text = f"error: {item['error']}"
    elif item["suite"] in ("qa", "squad"):
        text = f"[{item.get('stage', '?')}] answer: {item['answer']}"
        if item.get("rejected"):
            text += " · rejected: " + "; ".join(f"{r['text']} ({r['reason']})" for r in item["rejected"])
    elif item["suite"] == "injection":
        text = f"leaked {item['leaked']}: {' '.join(item['output'])}"
    elif item["suite"] == "summary":
        text = f"not covered: {item.get('point', '')}"
    else:
        text = f"gold not matched: {json.dumps(item.get('gold'), ensure_ascii=False)}"
    return text.replace("|", "\\|").replace("\n", " ")[:500]


def render_chart(result: dict[str, Any], base: dict[str, Any] | None, path: Path) -> None:
    """Horizontal bars of every score metric, this run against the baseline."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigurationError("the eval chart needs matplotlib: pip install -e '.[dev]'") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, v in result["metrics"].items() if is_score(n) and v is not None]
    ref: dict[str, float | None] = base["metrics"] if base else {}
    height = max(4.0, 0.32 * len(names) + 1.2)
    selective: dict[str, dict[str, Any]] = result.get("selective") or {}
    fig, axes = plt.subplots(
        1,
        2 if selective else 1,
        figsize=(15 if selective else 9, height),
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 2]} if selective else None,
    )
    ax = axes[0][0]
    if selective:
        _draw_curves(axes[0][1], selective)
    ys = range(len(names))
    bars = ax.barh([y + 0.2 for y in ys], [result["metrics"][n] for n in names], height=0.4, label="this run")
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.barh([y - 0.2 for y in ys], [ref.get(n) or 0.0 for n in names], height=0.4, label="baseline", alpha=0.6)
    ax.set_yticks(list(ys), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_title(f"{result['model']} · {result['subset']} · {result['run']}", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _draw_curves(ax: Any, selective: dict[str, dict[str, Any]]) -> None:
    """Accuracy of the answered against coverage, one line per suite and split; a dot at the shipped threshold."""
    for key, data in selective.items():
        pts = data.get("curve") or []
        if not pts:
            continue
        (line,) = ax.plot([p["coverage"] for p in pts], [p["accuracy"] for p in pts], label=key, lw=1.4)
        at = data.get("at_threshold")
        if at:
            ax.plot([at["coverage"]], [at["accuracy"]], "o", color=line.get_color())
    ax.set_xlabel("coverage (share of questions answered)", fontsize=8)
    ax.set_ylabel("accuracy of the answered", fontsize=8)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("risk-coverage (dot: shipped threshold)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def write_report(
    root: Path,
    result: dict[str, Any],
    base: dict[str, Any] | None,
    th: Thresholds,
    gate: GateOutcome | None,
    flips: GateOutcome | None = None,
) -> Path:
    """Write the run's folder and return it; `gate` when gating, `flips` (the same check) to list flipped items."""
    folder = root / str(result["run"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(render_markdown(result, base, th, gate, flips), encoding="utf-8")
    render_chart(result, base, folder / "chart.png")
    return folder
