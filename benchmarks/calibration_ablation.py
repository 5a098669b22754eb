"""Ablations of the answer decision, from eval runs' rows (no model calls): which signals and rules earn their place.

Fit on the dev rows of one run (reports + SQuAD Rhine), measured on the held-out rows of another (or the same) run:
for each variant, the calibrator is refit on dev (scikit-learn logistic regression, as `dossier calibrate` does), its
threshold chosen on 5-fold out-of-fold dev confidences by the same rule, and the held-out questions decided with it.
The dev table (out-of-fold) is what a choice may be made on; the held-out tables only report. Columns: AUROC of
confidence for right against wrong candidates, right decisions, answerable accuracy, unanswerable declined, wrong
of answered, ECE. Variants:
- `shipped`: the calibrator's features (the two judges); `only <f>`: one judge; `+ <f>`: a retrieval or span signal
  added; `all six signals`: every signal;
- `mean of judges (uncalibrated)`: the two P(yes) averaged, threshold chosen on dev (the issue's first anchor);
- `shipped + digits rule off`: sentences the structural number check dropped become candidates scored like any other.

Usage: python benchmarks/calibration_ablation.py DEV_RESULTS.json [HELDOUT_RESULTS.json] [--max-risk 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.evaluation import selective  # noqa: E402
from service.evaluation.calibrate import FOLDS, FULL, NO_LOGPROBS, choose_threshold, decided, fit_model, out_of_fold  # noqa: E402

Row = dict[str, Any]


def qa_rows(path: Path, split: str) -> list[Row]:
    result = json.loads(path.read_text(encoding="utf-8"))
    return [i for i in result["items"] if i["suite"] in ("qa", "squad") and i.get("split", "dev") == split]


def with_rule_off(rows: list[Row]) -> list[Row]:
    """Sentences the structural number check dropped become candidates scored like any other."""
    out = []
    for q in rows:
        right = q["candidate_correct"]
        if q.get("ruled_out") and not q.get("sentences"):
            right = q["answerable"] and any(x["correct"] for x in q["ruled_out"])
        out.append(q | {"sentences": q.get("sentences", []) + q.get("ruled_out", []), "candidate_correct": right})
    return out


def score(q: Row, fn: Any) -> float | None:
    scores = [s for x in q.get("sentences", []) if (s := fn(x["signals"])) is not None]
    return max(scores) if scores else None


def variant(
    name: str, dev: list[Row], held: list[Row], features: list[str] | None, max_risk: float, rule_off: bool = False
) -> dict[str, Any]:
    if rule_off:
        dev, held = with_rule_off(dev), with_rule_off(held)
    if features is None:  # the uncalibrated mean of the two judges: nothing is fit, the threshold is chosen on dev

        def fn(s: dict[str, Any]) -> float | None:
            ps = [s.get("p_supported"), s.get("p_answerable")]
            return None if None in ps else sum(ps) / 2  # type: ignore[arg-type]

        oof = [q | {"confidence": score(q, fn)} for q in dev]
    else:
        model = fit_model(name, features, [x for q in dev for x in q.get("sentences", [])], 1.0)

        def fn(s: dict[str, Any]) -> float | None:
            return model.probability(s) if model.applies(s) else None

        oof = out_of_fold(dev, features, 1.0)
    threshold = choose_threshold(oof, max_risk)
    out: dict[str, Any] = {
        "variant": name,
        "threshold": threshold,
    }
    dev_rows = decided(oof, threshold)
    out["dev"] = selective.metrics("dev", dev_rows) | {"dev.answer_accuracy": _acc(dev_rows)}
    for suite in ("qa", "squad"):
        part = [q | {"confidence": score(q, fn)} for q in held if q["suite"] == suite]
        if part:
            rows = decided(part, threshold)
            out[suite] = selective.metrics(suite, rows) | {f"{suite}.answer_accuracy": _acc(rows)}
    return out


def _acc(rows: list[Row]) -> float | None:
    ans = [r for r in rows if r["answerable"]]
    return round(sum(bool(r["correct"]) for r in ans) / len(ans), 4) if ans else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev", type=Path)
    ap.add_argument("heldout", type=Path, nargs="?")
    ap.add_argument("--max-risk", type=float, default=1.0)
    args = ap.parse_args()
    dev = qa_rows(args.dev, "dev")
    held = qa_rows(args.heldout or args.dev, "heldout")
    variants = [("shipped", FULL, False), ("mean of judges (uncalibrated)", None, False)]
    variants += [(f"only {f}", [f], False) for f in FULL]
    variants += [(f"+ {f}", [*FULL, f], False) for f in NO_LOGPROBS]
    variants += [("all six signals", FULL + NO_LOGPROBS, False), ("shipped + digits rule off", FULL, True)]
    results = [variant(n, dev, held, f, args.max_risk, r) for n, f, r in variants]
    cols = ["auroc", "right_decisions", "answer_accuracy", "unanswerable_declined", "wrong_of_answered", "ece"]
    for suite in ("dev", "qa", "squad"):
        if not any(suite in r for r in results):
            continue
        title = f"dev, {FOLDS}-fold out-of-fold (" if suite == "dev" else f"held-out {suite} ("
        print(f"\n### {title}{len(dev) if suite == 'dev' else sum(q['suite'] == suite for q in held)} questions)\n")
        print("| variant | threshold | " + " | ".join(cols) + " |")
        print("|---" * (len(cols) + 2) + "|")
        for r in results:
            m = r.get(suite, {})
            cells = ["n/a" if m.get(f"{suite}.{c}") is None else f"{m[f'{suite}.{c}']:.3f}" for c in cols]
            print(f"| {r['variant']} | {r['threshold']:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
