"""`dossier eval`: run the golden suites, write the report, optionally gate or accept a new baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from service.config import REPO_ROOT, Settings
from service.evaluation import gate as g
from service.evaluation.golden import Golden, load_golden
from service.evaluation.report import write_report
from service.evaluation.runner import SUITES, EvalRunner

EVALS = REPO_ROOT / "evals"
console = Console(stderr=True)


def eval_command(
    suite: Annotated[str, typer.Option(help="qa, squad, extract, summary, injection, or a comma list, or all")] = "all",
    subset: Annotated[str | None, typer.Option(help="ci: the fixed stratified CI subset; default everything")] = None,
    split: Annotated[str | None, typer.Option(help="dev (tuned on) or heldout (only reported); default both")] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a metric is under its floor or regressed")] = False,
    accept: Annotated[bool, typer.Option("--accept", help="Write this run into evals/baseline.json")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the local response cache")] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where run folders are written")] = EVALS / "reports",
    cache_dir: Annotated[Path, typer.Option(help="Local response cache (never committed)")] = EVALS / ".cache",
    golden_dir: Annotated[Path, typer.Option(help="Golden data")] = EVALS / "golden",
    examples_dir: Annotated[Path, typer.Option(help="The reports the golden data refers to")] = REPO_ROOT
    / "examples"
    / "reports",
    baseline: Annotated[Path, typer.Option(help="Baseline file")] = EVALS / "baseline.json",
    thresholds: Annotated[Path, typer.Option(help="Floors and tolerances")] = EVALS / "thresholds.toml",
) -> None:
    """Score answers, citations, abstentions, extractions, summaries and injection resistance."""
    suites = list(SUITES) if suite == "all" else [x.strip() for x in suite.split(",") if x.strip()]
    if any(s not in SUITES for s in suites):
        console.print(f"[red]unknown suite {suite!r}; choose one of {', '.join(SUITES)} or all[/red]")
        raise typer.Exit(2)
    if split is not None and (gate or accept):
        console.print("[red]--split runs are for tuning and reporting; gate and accept whole runs[/red]")
        raise typer.Exit(2)
    settings = Settings()
    golden = load_golden(golden_dir, examples_dir).split(split)
    cache = None if no_cache else cache_dir / "responses.sqlite"
    result, _, outcome, base = run_and_report(
        settings,
        golden,
        suites,
        subset=subset,
        cache=cache,
        reports_dir=reports_dir,
        baseline=baseline,
        thresholds=thresholds,
        gate=gate,
    )
    for name, value in result["metrics"].items():
        ref = base["metrics"].get(name) if base else None
        shown = "n/a" if value is None else f"{value:.3f}"
        delta = "" if value is None or ref is None else f" ({value - ref:+.3f})"
        console.print(f"  {name:42s} {shown}{delta}")
    if accept:
        key = g.accept(baseline, result)
        console.print(f"baseline {baseline} updated for {key}")
    if gate:
        _print_gate(outcome, base is not None)
        if not outcome.passed:
            raise typer.Exit(1)


def run_and_report(
    settings: Settings,
    golden: Golden,
    suites: list[str],
    *,
    subset: str | None = None,
    cache: Path | None = None,
    reports_dir: Path = EVALS / "reports",
    baseline: Path = EVALS / "baseline.json",
    thresholds: Path = EVALS / "thresholds.toml",
    gate: bool = False,
) -> tuple[dict[str, Any], Path, g.GateOutcome, dict[str, Any] | None]:
    """Run `suites` over `golden` with a progress bar, write the report folder; the results, the folder, the gate's
    outcome and the baseline entry compared with (used by `dossier eval` and benchmarks/tutorial_rag.py)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total or None)
            bar.update(tasks[name], completed=done, total=total or None)

        result = EvalRunner(settings, golden, subset=subset, cache_path=cache, progress=progress).run(suites)
    th = g.load_thresholds(thresholds, result["model"])
    base_all = g.load_baseline(baseline)
    base = base_all.get(g.baseline_key(result))
    outcome = g.check(result, base_all, th)
    folder = write_report(reports_dir, result, base, th, outcome if gate else None, outcome)
    console.print(f"report: {folder / 'report.md'} (chart: {folder / 'chart.png'}) in {result['wall_s']:.0f} s")
    return result, folder, outcome, base


def _print_gate(outcome: g.GateOutcome, has_baseline: bool) -> None:
    if not has_baseline:
        console.print("[yellow]gate: no baseline for this model and subset; only floors were checked[/yellow]")
    for f in outcome.failures:
        console.print(f"[red]gate: {f.metric}: {f.reason}[/red]")
    if outcome.regressed:
        console.print(f"gate: items that passed in the baseline and fail now: {', '.join(outcome.regressed)}")
    if outcome.improved:
        console.print(f"gate: items that failed in the baseline and pass now: {', '.join(outcome.improved)}")
    for flip in outcome.flips:
        if flip.regressed or flip.improved:
            verdict = "regression" if flip.failed else "within noise"
            console.print(
                f"gate: {flip.suite}: {len(flip.regressed)} worse, {len(flip.improved)} better, "
                f"McNemar p = {flip.p_value:.3f} ({verdict})"
            )
    console.print("[green]gate passed[/green]" if outcome.passed else "[red]gate FAILED[/red]")
