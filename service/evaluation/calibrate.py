"""`dossier calibrate`: fit the answer calibrator on the dev rows of an eval run.

Every QA row of an eval run records each candidate sentence (given or held back) with its signals and whether it
alone is a right answer. The calibrator is logistic regression (scikit-learn, on standardised signals) from those
signals to that label, fit on the dev split only (held-out rows are refused). Two models are fit: `full` (the
model's own P(yes) judgements, by default nothing else: on dev in 5-fold cross-validation the retrieval and span
features added no separation, see docs/evaluation.md) and `no_logprobs` (retrieval and span measures only), the
documented fallback for an endpoint that returns no log-probabilities, and what scores a streamed sentence before the
judgements exist. When the run holds the judges asked alone (`p_verified`: one candidate sentence against only the
sentences it cites), a third model, `verified`, adds them and is preferred wherever they were asked. The default
threshold maximises right decisions on out-of-fold confidences (5 folds of questions:
each question scored by a model fit without it), among thresholds whose answered stay within `--max-risk` wrong;
choosing it on in-sample confidences would pick a threshold the fit itself flatters.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from service.config import REPO_ROOT
from service.core.calibration import Calibrator, CalibratorFile, LogisticModel
from service.evaluation import selective

FULL = ["p_supported", "p_answerable"]
ALONE = ["p_verified"]  # judges asked alone, per sentence, only in the verify band: a model of their own, preferred
FOLDS = 5
NO_LOGPROBS = ["sim_top", "cover", "partial", "cited_sim"]
console = Console(stderr=True)


def fit_model(name: str, features: list[str], rows: list[dict[str, Any]], c: float) -> LogisticModel:
    """Logistic regression of `correct` on `features` over the sentence rows that have them all."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    usable = [r for r in rows if all(r["signals"].get(f) is not None for f in features)]
    x = [[float(r["signals"][f]) for f in features] for r in usable]
    y = [bool(r["correct"]) for r in usable]
    if len(set(y)) < 2:
        raise typer.BadParameter(f"model {name}: the rows hold only one label; run more dev questions")
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=c, max_iter=1000).fit(scaler.transform(x), y)
    scale = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
    return LogisticModel(
        name=name,
        features=features,
        mean=[round(float(v), 6) for v in scaler.mean_],
        scale=[round(v, 6) for v in scale],
        coef=[round(float(v), 6) for v in lr.coef_[0]],
        intercept=round(float(lr.intercept_[0]), 6),
    )


def out_of_fold(
    questions: list[dict[str, Any]], features: list[str], c: float, folds: int = FOLDS, seed: int = 0
) -> list[dict[str, Any]]:
    """Each question scored by a model fit on the other folds (questions dealt into `folds` by a seeded shuffle)."""
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    fold = {i: k % folds for k, i in enumerate(order)}
    out: list[dict[str, Any]] = [{} for _ in questions]
    for k in range(folds):
        train = [s for i, q in enumerate(questions) if fold[i] != k for s in q.get("sentences", [])]
        cal = Calibrator(
            CalibratorFile(id="cv", version=0, target="cv", threshold=0.5, models=[fit_model("cv", features, train, c)])
        )
        for i, q in enumerate(questions):
            if fold[i] == k:
                out[i] = rescored([q], cal)[0]
    return out


def decided(questions: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Rows decided at `threshold`: answered when the confidence reaches it."""
    out = []
    for q in questions:
        answered = q["confidence"] is not None and q["confidence"] >= threshold
        out.append(q | {"abstained": not answered, "correct": answered and q["candidate_correct"]})
    return out


def rescored(questions: list[dict[str, Any]], cal: Calibrator) -> list[dict[str, Any]]:
    """Each QA row with its confidence recomputed by `cal` (the best candidate sentence's)."""
    out = []
    for q in questions:
        scores = [s.confidence for x in q["sentences"] if (s := cal.score(x["signals"])) is not None]
        out.append(q | {"confidence": max(scores) if scores else None})
    return out


def choose_threshold(questions: list[dict[str, Any]], max_risk: float) -> float:
    """The threshold with the most right decisions among those whose answered are at most `max_risk` wrong."""
    best = (-1.0, 1.0)
    for point in selective.curve(questions):
        if point["coverage"] == 0 or 1.0 - point["accuracy"] <= max_risk:
            best = max(best, (point["right_decisions"], -point["threshold"]))
    return round(min(1.0, -best[1]), 4)


def calibrate_command(
    run: Annotated[Path, typer.Argument(help="An eval run's results.json (evals/reports/<run>/results.json)")],
    out: Annotated[Path | None, typer.Option(help="Where to write; default the next prompts/qa_calibrator/vN")] = None,
    max_risk: Annotated[float, typer.Option(min=0.0, max=1.0, help="Most wrong of answered at the threshold")] = 1.0,
    c: Annotated[float, typer.Option("--c", min=1e-4, help="Inverse regularisation strength")] = 1.0,
    features: Annotated[str, typer.Option(help="Comma list of the full model's signals")] = ",".join(FULL),
) -> None:
    """Fit prompts/qa_calibrator/vN.yaml on an eval run's dev QA rows (reports and SQuAD)."""
    result = json.loads(run.read_text(encoding="utf-8"))
    questions = [i for i in result["items"] if i["suite"] in ("qa", "squad") and i.get("split", "dev") == "dev"]
    if not questions:
        raise typer.BadParameter(f"{run} holds no dev QA rows (held-out rows are never fit on)")
    chosen = [f.strip() for f in features.split(",") if f.strip()]
    known = sorted({k for q in questions for s in q.get("sentences", []) for k in s["signals"]})
    if not chosen or (unknown := [f for f in chosen if f not in known]):
        raise typer.BadParameter(f"--features: unknown signals {chosen and unknown}; the run holds {known}")
    sentences = [s for q in questions for s in q.get("sentences", [])]
    scored = [s for s in sentences if all(s["signals"].get(f) is not None for f in chosen)]
    alone = [f for f in ALONE if f in known and f not in chosen]
    if alone and any(s["signals"].get(f) is None for s in scored for f in alone):  # asked in a band only: biased
        console.print(
            f"not fitting a `verified` model: {alone} was not asked of every candidate (run the dev eval "
            "with DOSSIER_QA_VERIFY_BAND='[0,1]')"
        )
        alone = []
    models = [fit_model("full", chosen, sentences, c), fit_model("no_logprobs", NO_LOGPROBS, sentences, c)]
    if alone:  # the run asked them (DOSSIER_QA_VERIFY_BAND=[0,1] asks them of every candidate): preferred when present
        chosen = chosen + alone
        models.insert(0, fit_model("verified", chosen, sentences, c))
    folder = REPO_ROOT / "prompts" / "qa_calibrator"
    if out and not out.stem.removeprefix("v").isdigit():
        raise typer.BadParameter(f"--out {out}: name the file v<N>.yaml (N is the calibrator's version)")
    version = (
        int(out.stem.removeprefix("v"))
        if out
        else 1 + max((int(p.stem[1:]) for p in folder.glob("v*.yaml")), default=0)
    )
    spec = CalibratorFile(
        id="qa_calibrator",
        version=version,
        threshold=0.5,
        models=models,
        description="Confidence of an answer sentence from the model's P(yes) judgements ("
        + ("`verified` where the judge asked alone was asked, else the two on the answer's prefix; " if alone else "")
        + "retrieval and span measures as the fallback); logistic regression fit by `dossier calibrate`.",
        target="P(the sentence is a right answer to the question, stated by the sentences it cites)",
        fit={
            "run": result.get("run"),
            "git": result.get("git"),
            "model": result.get("model"),
            "prompt": result.get("prompts", {}).get("qa"),
            "data": "dev split: report questions and SQuAD Rhine",
            "questions": len(questions),
            "sentences": len(sentences),
            "right_sentences": sum(bool(s["correct"]) for s in sentences),
            "library": "scikit-learn LogisticRegression on StandardScaler",
            "C": c,
            "threshold_rule": f"most right decisions on {FOLDS}-fold out-of-fold confidences of the fit rows, "
            f"wrong of answered <= {max_risk}",
        },
    )
    oof = out_of_fold(questions, chosen, c)
    spec.threshold = choose_threshold(oof, max_risk)
    cv = selective.metrics("dev", decided(oof, spec.threshold))
    spec.fit["cross_validated"] = {k: v for k, v in cv.items() if v is not None}
    stats = selective.metrics("dev", decided(rescored(questions, Calibrator(spec)), spec.threshold))
    spec.fit["in_sample"] = {k: v for k, v in stats.items() if v is not None}
    target = out or folder / f"v{version}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, width=110), encoding="utf-8")
    console.print(f"wrote {target}: threshold {spec.threshold}, cross-validated {spec.fit['cross_validated']}")


def pair_f1(probs: list[float], labels: list[bool], t: float) -> float:
    """F1 of deciding "yes" from probability `t` up."""
    tp = sum(1 for p, y in zip(probs, labels, strict=True) if p >= t and y)
    fp = sum(1 for p, y in zip(probs, labels, strict=True) if p >= t and not y)
    fn = sum(1 for p, y in zip(probs, labels, strict=True) if p < t and y)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def fit_with_threshold(
    name: str, features: list[str], rows: list[dict[str, Any]], c: float, folds: int = FOLDS
) -> tuple[LogisticModel, float, dict[str, float]]:
    """A pair decision's model on all `rows` ({"signals", "correct"}), its threshold (best F1 of `folds`-fold
    out-of-fold probabilities on a 0.05 grid, ties to the one nearest 0.5) and those out-of-fold F1 and AUROC."""
    oof = [0.0] * len(rows)
    for k in range(folds):
        model = fit_model(name, features, [r for i, r in enumerate(rows) if i % folds != k], c)
        for i, r in enumerate(rows):
            if i % folds == k:
                oof[i] = model.probability(r["signals"])
    labels = [bool(r["correct"]) for r in rows]
    grid = [round(0.05 * i, 2) for i in range(1, 20)]
    threshold = max(grid, key=lambda t: (pair_f1(oof, labels, t), -abs(t - 0.5)))
    figures = {
        "dev.pair_f1": round(pair_f1(oof, labels, threshold), 4),
        "dev.auroc": round(selective.auroc(oof, labels) or 0.0, 4),
    }
    return fit_model(name, features, rows, c), threshold, figures
