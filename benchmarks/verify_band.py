"""What the `verified` judge buys, and where it is worth its call: from the dev rows of an eval run that asked it of
every candidate (`DOSSIER_QA_VERIFY_BAND='[0,1]' dossier eval --suite qa,squad --split dev`), no model calls.

Each question is scored out of fold (5 folds of questions, as `dossier calibrate` does) by two calibrators: `full`
(the two judges on the answer's prefix) and `verified` (those and `p_verified`). For each band, a sentence whose
`full` confidence lies in it takes its `verified` confidence, any other keeps its `full` one: the decision the
service makes with `DOSSIER_QA_VERIFY_BAND`. Printed per band: the share of candidate sentences verified (the extra
calls), AUROC, right decisions, answered and wrong of answered at the `verified` threshold chosen on the same
out-of-fold confidences.

Usage: python benchmarks/verify_band.py DEV_RESULTS.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.core.calibration import Calibrator, CalibratorFile  # noqa: E402
from service.evaluation import selective  # noqa: E402
from service.evaluation.calibrate import FOLDS, FULL, choose_threshold, decided, fit_model  # noqa: E402

BANDS = [(1.0, 0.0), (0.4, 0.7), (0.35, 0.75), (0.3, 0.8), (0.2, 0.9), (0.0, 1.0)]


def _calibrator(features: list[str], rows: list[dict[str, Any]]) -> Calibrator:
    model = fit_model("cv", features, rows, 1.0)
    return Calibrator(CalibratorFile(id="cv", version=0, target="cv", threshold=0.5, models=[model]))


def scored_out_of_fold(questions: list[dict[str, Any]], band: tuple[float, float]) -> tuple[list[dict[str, Any]], int]:
    """Each question's confidence (its best sentence's) from models fit without its fold; and how many sentences
    the band sent to the `verified` judge."""
    order = list(range(len(questions)))
    random.Random(0).shuffle(order)  # the folds `dossier calibrate` deals (calibrate.out_of_fold)
    fold = {i: k % FOLDS for k, i in enumerate(order)}
    out: list[dict[str, Any]] = [{} for _ in questions]
    asked = 0
    for k in range(FOLDS):
        train = [s for i, q in enumerate(questions) if fold[i] != k for s in q["sentences"]]
        full, ver = (_calibrator(features, train) for features in (FULL, [*FULL, "p_verified"]))
        for i, q in enumerate(questions):
            if fold[i] != k:
                continue
            scores = []
            for s in q["sentences"]:
                first = full.score(s["signals"])
                if first is None:
                    continue
                if band[0] <= first.confidence <= band[1] and (v := ver.score(s["signals"])) is not None:
                    asked += 1
                    scores.append(v.confidence)
                else:
                    scores.append(first.confidence)
            out[i] = q | {"confidence": max(scores) if scores else None}
    return out, asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dev", type=Path)
    args = parser.parse_args()
    items = json.loads(args.dev.read_text(encoding="utf-8"))["items"]
    questions = [i for i in items if i["suite"] in ("qa", "squad") and i.get("split", "dev") == "dev"]
    sentences = sum(len(q["sentences"]) for q in questions)
    if not any("p_verified" in s["signals"] for q in questions for s in q["sentences"]):
        sys.exit(f"{args.dev}: no p_verified in its rows; run the eval with DOSSIER_QA_VERIFY_BAND='[0,1]'")
    always, _ = scored_out_of_fold(questions, (0.0, 1.0))
    threshold = choose_threshold(always, 1.0)
    print(f"{len(questions)} dev questions, {sentences} candidate sentences; threshold {threshold} (out of fold)")
    print("| band | sentences verified | auroc | right decisions | answered | wrong of answered |")
    print("|---|---|---|---|---|---|")
    for band in BANDS:
        rows, asked = scored_out_of_fold(questions, band)
        m = selective.metrics("dev", decided(rows, threshold))
        label = "never" if band[0] > band[1] else f"{band[0]}–{band[1]}"
        print(
            f"| {label} | {asked}/{sentences} ({asked / max(1, sentences):.2f}) | {m['dev.auroc']:.3f} | "
            f"{m['dev.right_decisions']:.3f} | {m['dev.coverage']:.3f} | {m['dev.wrong_of_answered']:.3f} |"
        )


if __name__ == "__main__":
    main()
