"""Would the model's own judgement help entity resolution? The labelled mention pairs (dev and held-out), decided
by the shipped name signals, by the model's P(yes) to "do these two name the same entity?" asked over the sentence
each mention stands in, and by both. Each variant is fit on the dev pairs (logistic regression, threshold by best
5-fold out-of-fold F1, as `dossier calibrate-entities` does) and scored on the held-out pairs.

One model call per pair (107 calls, about 2 s each on 2 cores with the 1.5B). Prints AUROC and pairwise F1 per
split and variant. Usage: python benchmarks/entity_judge_ablation.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.core.judging import judge  # noqa: E402
from service.core.segment import segment  # noqa: E402
from service.evaluation import selective  # noqa: E402
from service.evaluation.calibrate import fit_with_threshold, pair_f1  # noqa: E402
from service.evaluation.entities import FOLDS, pair_rows  # noqa: E402
from service.evaluation.golden import EntityPair, load_golden, report_texts  # noqa: E402
from service.extract.entities import SIGNALS  # noqa: E402

QUESTION = (
    'Report A: {sa}\nReport B: {sb}\n\nIn report A, "{ma}". In report B, "{mb}". '
    "Do they name the same real-world entity? Answer Yes or No."
)
SYSTEM = "You compare mentions of people, organisations, countries, places and things in news reports."


def _sentence(text: str, mention: str) -> str:
    return next((text[s.start : s.end] for s in segment(text) if mention in text[s.start : s.end]), mention)


def _judged(c: Container, pairs: list[EntityPair], texts: dict[str, str]) -> list[float]:
    out = []
    for n, p in enumerate(pairs, 1):
        user = QUESTION.format(
            sa=_sentence(texts[p.a.document], p.a.mention),
            sb=_sentence(texts[p.b.document], p.b.mention),
            ma=p.a.mention,
            mb=p.b.mention,
        )
        prob, _ = judge(c.chat, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}])
        out.append(0.5 if prob is None else prob)
        print(f"\r{n}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def _variant(features: list[str], dev: list[dict[str, Any]], held: list[dict[str, Any]]) -> dict[str, float]:
    rows = [{"signals": r["signals"], "correct": r["same"]} for r in dev]
    model, t, oof = fit_with_threshold("v", features, rows, 1.0, FOLDS)
    probs = [model.probability(r["signals"]) for r in held]
    held_labels = [bool(r["same"]) for r in held]
    return {
        "threshold": t,
        "dev_oof_f1": oof["dev.pair_f1"],
        "dev_oof_auroc": oof["dev.auroc"],
        "heldout_f1": pair_f1(probs, held_labels, t),
        "heldout_auroc": selective.auroc(probs, held_labels) or 0.0,
    }


def main() -> None:
    golden = load_golden(ROOT / "evals" / "golden", ROOT / "examples" / "reports")
    texts = report_texts(golden.corpus_dirs)
    c = Container(Settings())
    try:
        split: dict[str, list[dict[str, Any]]] = {}
        for name in ("dev", "heldout"):
            pairs = golden.split(name).entity_pairs
            rows = pair_rows(c.entities, pairs, c.entities.default_threshold)
            for r, prob in zip(rows, _judged(c, pairs, texts), strict=True):
                r["signals"]["p_same"] = prob
            split[name] = rows
        print(f"{'variant':<34} {'t':>5} {'dev F1':>7} {'dev AUROC':>9} {'held-out F1':>11} {'held-out AUROC':>14}")
        for label, features in (
            ("name signals (shipped)", list(SIGNALS)),
            ("model's P(same) alone", ["p_same"]),
            ("name signals + P(same)", [*SIGNALS, "p_same"]),
        ):
            v = _variant(features, split["dev"], split["heldout"])
            print(
                f"{label:<34} {v['threshold']:>5.2f} {v['dev_oof_f1']:>7.3f} {v['dev_oof_auroc']:>9.3f} "
                f"{v['heldout_f1']:>11.3f} {v['heldout_auroc']:>14.3f}"
            )
    finally:
        c.close()


if __name__ == "__main__":
    main()
