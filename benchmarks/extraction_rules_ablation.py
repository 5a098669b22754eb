"""Ablation of the extraction's hand-written rules: what each adds on the dev and the held-out split.

The rules: the alias table of states and bodies that merges entities (`service/extract/merge.py`), the speaker and
stance overrides from speech-verb and denial patterns (`service/extract/attribution.py`), and the "undated
statement is not an event" rule (which also reads the speech verbs). Each variant turns one off in this process,
then runs the extraction suite through the eval runner on the same model responses (the local response cache, so
only the first variant calls the model). Prints micro F1, events precision, entities F1, claims F1, speaker and
stance accuracy per split.

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
from service.evaluation.golden import load_golden  # noqa: E402
from service.evaluation.runner import EvalRunner  # noqa: E402
from service.extract import merge  # noqa: E402
from service.extract import service as extract_service  # noqa: E402

METRICS = [
    "extract.micro.f1",
    "extract.events.precision",
    "extract.entities.f1",
    "extract.claims.f1",
    "extract.speaker_accuracy",
    "extract.stance_accuracy",
]


def _no_alias_table() -> Callable[[], None]:
    saved = dict(merge._CANON)
    merge._CANON.clear()
    return lambda: merge._CANON.update(saved)


def _no_attribution() -> Callable[[], None]:
    saved = extract_service.ExtractService.__dict__["_attribute"]
    extract_service.ExtractService._attribute = staticmethod(lambda *a, **k: None)  # type: ignore[method-assign]
    return lambda: setattr(extract_service.ExtractService, "_attribute", saved)


def _no_undated_rule() -> Callable[[], None]:
    saved = extract_service.reports_speech
    extract_service.reports_speech = lambda sentence: False
    return lambda: setattr(extract_service, "reports_speech", saved)


def _all_off() -> Callable[[], None]:
    undo = [_no_alias_table(), _no_attribution(), _no_undated_rule()]
    return lambda: [u() for u in undo] and None


VARIANTS: list[tuple[str, Callable[[], Callable[[], None]] | None]] = [
    ("shipped", None),
    ("alias table off", _no_alias_table),
    ("speaker/stance rules off", _no_attribution),
    ("undated-statement rule off", _no_undated_rule),
    ("all three off", _all_off),
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
            result = EvalRunner(Settings(), golden, subset=None, cache_path=cache).run(["extract"])
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
