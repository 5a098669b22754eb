"""Entity resolution measured on labelled mention pairs, and the entity calibrator fit on the dev pairs.

Each golden pair (`evals/golden/entity_pairs.jsonl` for dev, `evals/golden/heldout/entity_pairs.jsonl` written
blind) names two mentions as their reports write them and whether they are one real-world entity. Dossier's pair
decision is the one `GET /v1/entities` joins reports with: the calibrated P(same) of the two names over the
threshold. Reported per split: pairwise precision, recall and F1 of "same", and AUROC of P(same). No model call.
`dossier calibrate-entities` fits the calibrator (logistic regression on the name signals, scikit-learn) on the
dev pairs alone, with the threshold that gives the best F1 on 5-fold out-of-fold probabilities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from service.config import REPO_ROOT, Settings
from service.core.calibration import Calibrator, CalibratorFile
from service.evaluation import metrics as m
from service.evaluation import selective
from service.evaluation.calibrate import fit_with_threshold
from service.evaluation.golden import EntityPair, load_golden
from service.evaluation.machine import git_head
from service.extract.entities import SIGNALS, EntityService, name_signals

FOLDS = 5
console = Console(stderr=True)


def pair_rows(entities: EntityService, pairs: Sequence[EntityPair], threshold: float) -> list[dict[str, Any]]:
    """One row per pair: its signals, P(same), the decision at `threshold` and whether it is right."""
    vectors = entities.vectors([side.mention for p in pairs for side in (p.a, p.b)])
    rows = []
    for p in pairs:
        a, b = p.a.mention, p.b.mention
        prob = entities.same([a], [b], vectors)
        rows.append(
            {
                "suite": "entities",
                "id": f"entities:{p.id}",
                "split": p.split,
                "same": p.same,
                "signals": name_signals(a, b, vectors[a], vectors[b]),
                "confidence": prob,
                "decided_same": prob >= threshold,
                "passed": (prob >= threshold) == p.same,
                "cached": True,
            }
        )
    return rows


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """`entities.pair_precision`, `pair_recall`, `pair_f1` (of "same") and `auroc` of P(same)."""
    tp = sum(1 for r in rows if r["decided_same"] and r["same"])
    decided = sum(1 for r in rows if r["decided_same"])
    gold = sum(1 for r in rows if r["same"])
    s = m.prf(tp, decided, gold)
    auroc = selective.auroc([r["confidence"] for r in rows], [r["same"] for r in rows])
    return {
        "entities.pair_precision": _r(s.precision),
        "entities.pair_recall": _r(s.recall),
        "entities.pair_f1": _r(s.f1),
        "entities.auroc": _r(auroc),
    }


def denominators(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    gold = sum(1 for r in rows if r["same"])
    return {"entities.pair_f1": gold, "entities.pair_recall": gold}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def fit(rows: Sequence[dict[str, Any]], c: float = 1.0) -> tuple[CalibratorFile, dict[str, float]]:
    """The calibrator on dev rows, its threshold (best out-of-fold F1) and the cross-validated figures."""
    if any(r["split"] != "dev" for r in rows):
        raise typer.BadParameter("the entity calibrator is fit on dev pairs only")
    fit_rows = [{"signals": r["signals"], "correct": r["same"], "id": r["id"]} for r in rows]
    model, threshold, oof = fit_with_threshold("names", list(SIGNALS), fit_rows, c, FOLDS)
    spec = CalibratorFile(
        id="entity_calibrator",
        version=1,
        description="P(two names are one real-world entity) from measured name signals; logistic regression fit by "
        "`dossier calibrate-entities` on the dev entity pairs.",
        target="P(the two mentions name the same real-world entity)",
        threshold=threshold,
        models=[model],
    )
    return spec, oof


def calibrate_entities_command(
    out: Annotated[Path | None, typer.Option(help="Where to write; default the next entity_calibrator/vN")] = None,
    c: Annotated[float, typer.Option(min=1e-4, help="Inverse regularisation strength")] = 1.0,
) -> None:
    """Fit prompts/entity_calibrator/vN.yaml on the dev entity pairs (evals/golden/entity_pairs.jsonl)."""
    from service.container import Container

    golden = load_golden(REPO_ROOT / "evals" / "golden", REPO_ROOT / "examples" / "reports").split("dev")
    container = Container(Settings())
    placeholder = Calibrator(
        CalibratorFile.model_validate(
            {"id": "unfit", "version": 1, "target": "-", "threshold": 0.5, "models": [_flat()]}
        )
    )
    service = EntityService(
        container.extract, container.repo, container.embedder, placeholder, schema_id="report-facts"
    )
    rows = pair_rows(service, golden.entity_pairs, 0.5)
    spec, oof = fit(rows, c)
    folder = REPO_ROOT / "prompts" / "entity_calibrator"
    version = 1 + max((int(p.stem[1:]) for p in folder.glob("v*.yaml")), default=0)
    spec = spec.model_copy(
        update={
            "version": version,
            "fit": {
                "data": "dev split: evals/golden/entity_pairs.jsonl",
                "pairs": len(rows),
                "same": sum(1 for r in rows if r["same"]),
                "embedding": container.embedder.name,
                "git": git_head(),
                "date": dt.date.today().isoformat(),
                "library": "scikit-learn LogisticRegression on StandardScaler",
                "C": c,
                "threshold_rule": f"best pairwise F1 on {FOLDS}-fold out-of-fold probabilities",
                "cross_validated": oof,
            },
        }
    )
    path = out or folder / f"v{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec.model_dump(), sort_keys=False, width=118), encoding="utf-8")
    console.print(f"wrote {path}: threshold {spec.threshold}, out-of-fold {oof}")


def _flat() -> dict[str, Any]:
    """A stand-in model while the signals are measured (its probabilities are not used)."""
    n = len(SIGNALS)
    return {
        "name": "unfit",
        "features": list(SIGNALS),
        "mean": [0.0] * n,
        "scale": [1.0] * n,
        "coef": [0.0] * n,
        "intercept": 0.0,
    }
