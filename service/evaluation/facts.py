"""`dossier calibrate-facts`: fit the fact calibrator on the dev extraction rows of an eval run.

Every extraction row of an eval run lists each fact the model gave (whatever its confidence) with its signals (the
model's P(yes) that its sentence states it, as given) and whether it matches a gold fact. The calibrator is logistic
regression (scikit-learn, on the standardised signal) from that signal to that label, fit on the dev split only.
Its threshold maximises the dev extraction's micro F1 (every kind, all documents) over 5-fold out-of-fold
confidences: dropping a fact under the threshold loses it if it was right and spares a false one if not.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from service.config import REPO_ROOT
from service.core.calibration import CalibratorFile
from service.evaluation import selective
from service.evaluation.calibrate import FOLDS, fit_model

FEATURES = ["p_states"]
console = Console(stderr=True)


def micro_f1(probs: list[float], labels: list[bool], gold: int, t: float) -> float:
    """Micro F1 of an extraction whose facts under `t` are dropped (`gold`: the gold facts, matched or not)."""
    tp = sum(1 for p, y in zip(probs, labels, strict=True) if p >= t and y)
    kept = sum(1 for p in probs if p >= t)
    return 2 * tp / (kept + gold) if tp else 0.0


def fit(docs: list[dict[str, Any]], c: float = 1.0) -> tuple[CalibratorFile, dict[str, float]]:
    """The calibrator on the dev document rows of a run, its threshold, and the cross-validated figures."""
    rows = [
        {"signals": f["signals"], "correct": f["correct"]}
        for d in docs
        for f in d.get("facts", [])
        if all(f["signals"].get(x) is not None for x in FEATURES)
    ]
    gold = sum(int(d["counts"][f"{k}.gold"]) for d in docs for k in ("entities", "events", "claims", "quantities"))
    if not rows:
        raise typer.BadParameter("the run's extraction rows hold no fact signals (an endpoint without logprobs?)")
    oof = [0.0] * len(rows)
    for k in range(FOLDS):
        model = fit_model("full", FEATURES, [r for i, r in enumerate(rows) if i % FOLDS != k], c)
        for i, r in enumerate(rows):
            if i % FOLDS == k:
                oof[i] = model.probability(r["signals"])
    labels = [bool(r["correct"]) for r in rows]
    grid = [0.0] + [round(0.05 * i, 2) for i in range(1, 20)]
    threshold = max(grid, key=lambda t: (micro_f1(oof, labels, gold, t), -t))
    figures = {
        "dev.micro_f1_all_kept": round(micro_f1(oof, labels, gold, 0.0), 4),
        "dev.micro_f1_at_threshold": round(micro_f1(oof, labels, gold, threshold), 4),
        "dev.auroc": round(selective.auroc(oof, labels) or 0.0, 4),
        "dev.facts": len(rows),
        "dev.correct": sum(labels),
        "dev.gold": gold,
    }
    spec = CalibratorFile(
        id="fact_calibrator",
        version=1,
        description="P(an extracted fact is right as given) from the model's own P(yes) that its sentence states it; "
        "logistic regression fit by `dossier calibrate-facts` on an eval run's dev extraction facts.",
        target="P(the fact matches a gold fact)",
        threshold=threshold,
        models=[fit_model("full", FEATURES, rows, c)],
    )
    return spec, figures


def calibrate_facts_command(
    run: Annotated[Path, typer.Argument(help="An eval run's results.json (evals/reports/<run>/results.json)")],
    c: Annotated[float, typer.Option("--c", min=1e-4, help="Inverse regularisation strength")] = 1.0,
) -> None:
    """Fit prompts/fact_calibrator/vN.yaml on an eval run's dev extraction facts."""
    result = json.loads(run.read_text(encoding="utf-8"))
    docs = [i for i in result["items"] if i["suite"] == "extract" and "counts" in i and i.get("split", "dev") == "dev"]
    if not docs:
        raise typer.BadParameter(f"{run} holds no dev extraction rows (held-out rows are never fit on)")
    spec, figures = fit(docs, c)
    folder = REPO_ROOT / "prompts" / "fact_calibrator"
    version = 1 + max((int(p.stem[1:]) for p in folder.glob("v*.yaml")), default=0)
    spec = spec.model_copy(
        update={
            "version": version,
            "fit": {
                "data": f"dev extraction facts of eval run {result.get('run')}",
                "prompt": (result.get("prompts") or {}).get("extract"),
                "model": result.get("model"),
                "git": result.get("git"),
                "date": dt.date.today().isoformat(),
                "library": "scikit-learn LogisticRegression on StandardScaler",
                "C": c,
                "threshold_rule": f"best dev micro F1 on {FOLDS}-fold out-of-fold confidences",
                "cross_validated": figures,
            },
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{version}.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(), sort_keys=False, width=118), encoding="utf-8")
    console.print(f"wrote {path}: threshold {spec.threshold}, out-of-fold {figures}")
