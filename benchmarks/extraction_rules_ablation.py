"""Ablation of the hand-written rules of extraction and summaries: what each adds on the dev and the held-out split.

The rules: the stance cue (denial wording in a claim's evidence sentence makes its stance `denies`, a denial without
such wording becomes `assesses` or `asserts`, `service/extract/attribution.py`); the stopword list that the support
check's term coverage leaves out (`service/core/text.py`).
Each variant turns one off in this process, then runs the extraction and summary suites through the eval runner on
the same model responses (the local response cache, so only the first variant calls the model). Prints extraction
micro F1, events precision, entities and claims F1, speaker and stance accuracy, and summary key-point recall and
citation precision, per split. (The alias table of states and bodies, the speaker correction, the
undated-statement rule and the number words of the support check were measured the same way and removed:
docs/architecture.md.)

Usage: python benchmarks/extraction_rules_ablation.py [--split dev|heldout] (default both)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from service.config import Settings  # noqa: E402
from service.core import support, text  # noqa: E402
from service.evaluation.golden import load_golden  # noqa: E402
from service.evaluation.runner import EvalRunner  # noqa: E402
from service.extract import service as extract_service  # noqa: E402

METRICS = [
    "extract.micro.f1",
    "extract.events.precision",
    "extract.entities.f1",
    "extract.claims.f1",
    "extract.speaker_accuracy",
    "extract.stance_accuracy",
    "summary.key_point_recall",
    "summary.citation_precision",
]


def _no_stance_rule() -> Callable[[], None]:
    saved = extract_service.stance_from_cues
    extract_service.stance_from_cues = lambda stance, evidence: stance
    return lambda: setattr(extract_service, "stance_from_cues", saved)


def _no_stopwords() -> Callable[[], None]:
    saved, saved_caps = text.STOPWORDS, support._CAP_STOP
    text.STOPWORDS, support._CAP_STOP = frozenset(), frozenset()

    def undo() -> None:
        text.STOPWORDS, support._CAP_STOP = saved, saved_caps

    return undo


VARIANTS: list[tuple[str, Callable[[], Callable[[], None]] | None]] = [
    ("shipped", None),
    ("stance rule off", _no_stance_rule),
    ("stopword list off", _no_stopwords),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev", "heldout"], default=None)
    args = ap.parse_args()
    golden = load_golden(ROOT / "evals" / "golden", ROOT / "examples" / "reports").split(args.split)
    cache = ROOT / "evals" / ".cache" / "responses.sqlite"
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, turn_off in VARIANTS:
        undo = turn_off() if turn_off else None
        try:
            result = EvalRunner(Settings(), golden, subset=None, cache_path=cache).run(["extract", "summary"])
        finally:
            if undo:
                undo()
        rows.append((name, result["splits"]))
        print(f"  {name}: cache {result['cache']}", flush=True)
    for split in sorted({s for _, splits in rows for s in splits}):
        print(f"\n### {split}\n\n| variant | " + " | ".join(m.removeprefix("extract.") for m in METRICS) + " |")
        print("|---|" + "---|" * len(METRICS))
        for name, splits in rows:
            got = splits.get(split, {})
            cells = ["n/a" if got.get(m) is None else f"{got[m]:.3f}" for m in METRICS]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
