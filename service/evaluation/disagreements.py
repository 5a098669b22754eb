"""Disagreement and corroboration decisions measured on labelled statement pairs; their calibrators fit on dev.

Each golden pair (`evals/golden/claim_pairs.jsonl` for dev, `evals/golden/heldout/claim_pairs.jsonl` written
blind) gives two reports' sentences and their relation: agree, contradict or unrelated. Dossier's decisions are the
ones `GET /v1/disagreements` and `GET /v1/facts?corroboration=true` make: the calibrated P(contradict), and P(agree),
of the model's judgement of the pair over their thresholds. Reported per split: precision, recall and F1 of
"contradict" (`disagreements.*`) and of "agree" (`corroboration.*`), and AUROC of each probability. Two one-token
model calls a pair (cached by the eval's response cache). `dossier calibrate-claims [--target agree]` fits a
calibrator (logistic regression on the log-odds of the model's probabilities, scikit-learn) on the dev pairs alone,
with the threshold of the best F1 on 5-fold out-of-fold probabilities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from service.config import REPO_ROOT, Settings
from service.core.calibration import Calibrator, CalibratorFile
from service.core.comparing import AGREE_SIGNALS, SIGNALS, PairJudge, features
from service.evaluation import metrics as m
from service.evaluation import selective
from service.evaluation.calibrate import FOLDS, fit_with_threshold
from service.evaluation.golden import ClaimPair, load_golden
from service.evaluation.machine import git_head

console = Console(stderr=True)


def pair_rows(
    judge: PairJudge,
    pairs: Sequence[ClaimPair],
    thresholds: tuple[float, float],
    on_pair: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per pair: the model's probabilities, P(contradict) and P(agree), the decisions at `thresholds`
    (contradict, agree), whether they are right, and what the judgement cost."""
    rows = []
    threshold, agree_cut = thresholds
    for n, p in enumerate(pairs, start=1):
        judged = judge.judge(p.a.quote, p.b.quote)
        prob = judge.confidence(judged.signals)
        decided = prob is not None and prob >= threshold
        agree = judge.agreement(judged.signals)
        rows.append(
            {
                "suite": "disagreements",
                "id": f"disagreements:{p.id}",
                "split": p.split,
                "label": p.label,
                "signals": judged.signals,
                "confidence": prob,
                "decided_contradict": decided,
                "agree_confidence": agree,
                "decided_agree": agree is not None and agree >= agree_cut,
                "passed": decided == (p.label == "contradict"),
                "usage": judged.usage.model_dump(),
            }
        )
        if on_pair:
            on_pair(n)
    return rows


# each decision: its metric prefix, the label it finds, the row's decision and probability
DECISIONS = (
    ("disagreements", "contradict", "decided_contradict", "confidence"),
    ("corroboration", "agree", "decided_agree", "agree_confidence"),
)


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """`disagreements.precision`, `recall`, `f1` (of "contradict") and `auroc` of P(contradict); the same as
    `corroboration.*` for "agree" and P(agree) (rows without it, from before corroboration, are left out)."""
    out: dict[str, float | None] = {}
    for prefix, label, decided_key, prob_key in DECISIONS:
        have = [r for r in rows if decided_key in r]
        if not have:
            continue
        tp = sum(1 for r in have if r[decided_key] and r["label"] == label)
        decided = sum(1 for r in have if r[decided_key])
        gold = sum(1 for r in have if r["label"] == label)
        s = m.prf(tp, decided, gold)
        scored = [r for r in have if r.get(prob_key) is not None]
        auroc = selective.auroc([r[prob_key] for r in scored], [r["label"] == label for r in scored])
        out |= {
            f"{prefix}.precision": _r(s.precision),
            f"{prefix}.recall": _r(s.recall),
            f"{prefix}.f1": _r(s.f1),
            f"{prefix}.auroc": _r(auroc),
        }
    return out


def denominators(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for prefix, label, decided_key, _ in DECISIONS:
        gold = sum(1 for r in rows if r["label"] == label and decided_key in r)
        decided = sum(1 for r in rows if r.get(decided_key))
        out |= {f"{prefix}.f1": gold, f"{prefix}.recall": gold, f"{prefix}.precision": decided}
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


TARGETS: dict[str, dict[str, Any]] = {
    "contradict": {
        "id": "claim_calibrator",
        "signals": SIGNALS,
        "description": "P(two reports' statements contradict each other) from the model's own probabilities "
        "(log-odds of related, contradict and not-both-true); logistic regression fit by `dossier calibrate-claims` "
        "on the dev claim pairs.",
        "target": "P(the two statements contradict each other)",
    },
    "agree": {
        "id": "agree_calibrator",
        "signals": AGREE_SIGNALS,
        "description": "P(two reports' statements agree: one corroborates the other) from the model's own "
        "probabilities (log-odds of agree and not-both-true); logistic regression fit by `dossier calibrate-claims "
        "--target agree` on the dev claim pairs.",
        "target": "P(the two statements agree)",
    },
}


def fit(
    rows: Sequence[dict[str, Any]], c: float = 1.0, target: str = "contradict"
) -> tuple[CalibratorFile, dict[str, float]]:
    """The calibrator of `target` (contradict or agree) on dev rows, its threshold (best out-of-fold F1) and the
    cross-validated figures."""
    if any(r["split"] != "dev" for r in rows):
        raise typer.BadParameter("the claim calibrators are fit on dev pairs only")
    spec = TARGETS[target]
    fit_rows = [
        {"signals": features(r["signals"]), "correct": r["label"] == target, "id": r["id"]}
        for r in rows
        if all(r["signals"].get(x) is not None for x in spec["signals"])
    ]
    if len(fit_rows) < len(rows):
        console.print(f"{len(rows) - len(fit_rows)} pair(s) without the model's probabilities are left out")
    model, threshold, oof = fit_with_threshold("judged", list(spec["signals"]), fit_rows, c, FOLDS)
    made = CalibratorFile(
        id=spec["id"],
        version=1,
        description=spec["description"],
        target=spec["target"],
        threshold=threshold,
        models=[model],
    )
    return made, oof


def calibrate_claims_command(
    c: Annotated[float, typer.Option(min=1e-4, help="Inverse regularisation strength")] = 1.0,
    target: Annotated[
        str, typer.Option(help="contradict: prompts/claim_calibrator (disagreements); agree: prompts/agree_calibrator")
    ] = "contradict",
    cache: Annotated[Path, typer.Option(help="Response cache of the judgements (never committed)")] = REPO_ROOT
    / "evals"
    / ".cache"
    / "responses.sqlite",
) -> None:
    """Fit prompts/claim_calibrator/vN.yaml (or, `--target agree`, prompts/agree_calibrator/vN.yaml) on the dev claim
    pairs (evals/golden/claim_pairs.jsonl): two one-token model calls a pair, then logistic regression."""
    from service.container import Container

    if target not in TARGETS:
        raise typer.BadParameter(f"--target is one of {', '.join(TARGETS)}, not {target!r}")
    golden = load_golden(REPO_ROOT / "evals" / "golden", REPO_ROOT / "examples" / "reports").split("dev")
    cache.parent.mkdir(parents=True, exist_ok=True)
    container = Container(Settings(), response_cache=cache)
    try:
        service = PairJudge(container.chat, container.prompts.get("compare"), _unfit(), _unfit())
        total = len(golden.claim_pairs)
        rows = pair_rows(
            service, golden.claim_pairs, (0.5, 0.5), lambda n: console.print(f"judged {n}/{total}", end="\r")
        )
        spec, oof = fit(rows, c, target)
        model_name = container.chat.model_name
    finally:
        container.close()
    folder = REPO_ROOT / "prompts" / TARGETS[target]["id"]
    version = 1 + max((int(p.stem[1:]) for p in folder.glob("v*.yaml")), default=0)
    spec = spec.model_copy(
        update={
            "version": version,
            "fit": {
                "data": "dev split: evals/golden/claim_pairs.jsonl",
                "pairs": len(rows),
                target: sum(1 for r in rows if r["label"] == target),
                "prompt": container.prompts.get("compare").ref,
                "model": model_name,
                "git": git_head(),
                "date": dt.date.today().isoformat(),
                "library": "scikit-learn LogisticRegression on StandardScaler",
                "C": c,
                "threshold_rule": f"best F1 of {target} on {FOLDS}-fold out-of-fold probabilities",
                "cross_validated": oof,
            },
        }
    )
    path = folder / f"v{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec.model_dump(), sort_keys=False, width=118), encoding="utf-8")
    console.print(f"wrote {path}: threshold {spec.threshold}, out-of-fold {oof}")


def _unfit() -> Calibrator:
    """A stand-in while the judgements are measured (its probabilities are not used)."""
    n = len(SIGNALS)
    flat = {"name": "unfit", "features": list(SIGNALS), "mean": [0.0] * n, "scale": [1.0] * n, "coef": [0.0] * n}
    return Calibrator(
        CalibratorFile.model_validate(
            {"id": "unfit", "version": 1, "target": "-", "threshold": 0.5, "models": [flat | {"intercept": 0.0}]}
        )
    )
