"""How sure Dossier is of each extracted fact, decided like answers.

After each window's reply, every grounded fact is put back to the model on the reply's own prefix (the extract
prompt's `states` judge: does sentence [n] state this fact, with exactly these values?), so the server evaluates
only the question. The model's P(yes), read from its log-probabilities, is turned into a calibrated P(the fact is
right as given) by `prompts/fact_calibrator/vN.yaml` (logistic regression fit on the dev extraction golden set by
`dossier calibrate-facts`). Facts are stored with their confidence; a fact under the threshold
(`DOSSIER_FACT_MIN_CONFIDENCE`, a request's `min_confidence`, default the calibrator's own) is served among the
rejected, with its confidence as the reason. Without log-probabilities a fact has no confidence and is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from service.core.calibration import Calibrator
from service.core.judging import judge
from service.domain.facts import Extraction, Fact, RejectedFact
from service.domain.models import Sentence, Usage
from service.domain.ports import ChatModel, PromptTemplate

JUDGE = "states"
DERIVED = ("model_said",)  # fields Dossier adds beside the model's own; the judge sees what the model wrote


def fact_text(fact: Fact) -> str:
    """The fact as the model wrote it, compact JSON (derived fields such as `date_iso` left out)."""
    fields = {k: v for k, v in fact.fields.items() if k not in DERIVED and not k.endswith("_iso")}
    return json.dumps(fields, ensure_ascii=False, separators=(", ", ": "))


def sentence_number(fact: Fact, window: Sequence[Sentence]) -> int:
    """The 1-based number, in the window shown, of the sentence holding the fact's first evidence."""
    start = fact.evidence[0].start if fact.evidence else -1
    return next((n for n, s in enumerate(window, start=1) if s.start <= start < s.end), 1)


def judge_facts(
    chat: ChatModel,
    prompt: PromptTemplate,
    calibrator: Calibrator | None,
    values: dict[str, str],
    answer: str,
    window: Sequence[Sentence],
    facts: list[Fact],
) -> Usage:
    """Set each fact's `signals` (P(yes) of the `states` judge) and `confidence` (None without a calibrator: the
    signals are still recorded, for `dossier calibrate-facts`); the cost of asking. Nothing is asked when the
    prompt has no such judge."""
    usage = Usage()
    if JUDGE not in prompt.judges:
        return usage
    for fact in facts:
        messages = prompt.judge(
            JUDGE, answer, **values, fact=fact_text(fact), number=str(sentence_number(fact, window))
        )
        p, cost = judge(chat, messages)
        usage = usage.add(cost)
        fact.signals = {"p_states": p}
        scored = calibrator.score(fact.signals) if calibrator else None
        fact.confidence = None if scored is None else scored.confidence
        if p is None:
            break  # the endpoint gives no log-probabilities: asking again tells nothing either
    return usage


def decided(extraction: Extraction, threshold: float) -> Extraction:
    """The extraction as served at `threshold`: facts under it move to `rejected`, with their confidence."""
    kept: dict[str, list[Fact]] = {}
    rejected: list[RejectedFact] = list(extraction.rejected)
    for kind, facts in extraction.facts.items():
        kept[kind] = []
        for f in facts:
            if f.confidence is None or f.confidence >= threshold:
                kept[kind].append(f)
            else:
                rejected.append(
                    RejectedFact(
                        kind=kind,
                        fields=f.fields,
                        cited=[],
                        reason=f"confidence {f.confidence:.2f} is below the threshold {threshold:.2f}",
                    )
                )
    return extraction.model_copy(update={"facts": kept, "rejected": rejected})
