"""Do two reports' statements contradict each other? The model's own probabilities, calibrated.

Two one-token questions on one shared prefix (the pair, `prompts/compare/vN.yaml`): which relation holds (agree /
contradict / unrelated) and whether both can be true at once, read from `top_logprobs`. Logistic regressions fit
on the dev claim pairs turn their log-odds into P(contradict) (`prompts/claim_calibrator/vN.yaml`, disagreements)
and P(agree) (`prompts/agree_calibrator/vN.yaml`, corroboration). Judgements are kept (keyed by prompt version,
model and the two sentences), so asking again costs no model call.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from service.core.calibration import Calibrator
from service.core.judging import choose, judge
from service.domain.models import Usage
from service.domain.ports import ChatModel, PromptTemplate

SIGNALS = ("related", "contradict", "not_both")  # the claim calibrator's inputs
AGREE_SIGNALS = ("agree", "not_both")  # the agree calibrator's inputs
RELATIONS = ("agree", "contradict", "unrelated")
JUDGEMENT_CACHE = 100_000


def features(signals: Mapping[str, float | None]) -> dict[str, float | None]:
    """The calibrator's inputs: each probability as log-odds (clipped 1e-4 from 0 and 1)."""
    out: dict[str, float | None] = {}
    for name, p in signals.items():
        q = None if p is None else min(max(p, 1e-4), 1 - 1e-4)
        out[name] = None if q is None else math.log(q / (1 - q))
    return out


@dataclass(frozen=True)
class Judgement:
    """The model's probabilities for one pair of sentences, and what asking cost (nothing when kept)."""

    signals: dict[str, float | None]
    usage: Usage
    model: str


class PairJudge:
    """Judges pairs of statements with the model; scores them with the claim calibrator (P(contradict)) and the
    agree calibrator (P(agree): one statement corroborates the other)."""

    def __init__(
        self, chat: ChatModel, prompt: PromptTemplate, calibrator: Calibrator, agree_calibrator: Calibrator
    ) -> None:
        self._chat = chat
        self.prompt = prompt
        self.calibrator = calibrator
        self.agree_calibrator = agree_calibrator
        self._lock = threading.Lock()
        self._judged: dict[tuple[str, str, str, str], Judgement] = {}

    @property
    def model_name(self) -> str:
        return self._chat.model_name

    def known(self, a: str, b: str) -> Judgement | None:
        """The kept judgement of `a` then `b` (costing nothing now), or None when they have not been judged."""
        with self._lock:
            found = self._judged.get(self._key(a, b))
        return None if found is None else Judgement(found.signals, Usage(), found.model)

    def judge(self, a: str, b: str) -> Judgement:
        """The model's probabilities for statements `a` and `b`: `related` (1 - P(unrelated)), `contradict`
        (P(contradict)), `agree` (P(agree)) and `not_both` (1 - P(both can be true)); None each without
        log-probabilities (such a judgement is not kept). A pair is asked once in each order per prompt version
        and model."""
        if (found := self.known(a, b)) is not None:
            return found
        relation, u1 = choose(self._chat, self.prompt.judge("relation", a=a, b=b), RELATIONS)
        both, u2 = judge(self._chat, self.prompt.judge("both_true", a=a, b=b))
        signals = {
            "related": None if relation is None else round(1.0 - relation["unrelated"], 6),
            "contradict": None if relation is None else relation["contradict"],
            "agree": None if relation is None else relation["agree"],
            "not_both": None if both is None else round(1.0 - both, 6),
        }
        done = Judgement(signals, u1.add(u2), self._chat.model_name)
        if all(v is not None for v in signals.values()):
            with self._lock:
                if len(self._judged) >= JUDGEMENT_CACHE:
                    self._judged.clear()
                self._judged[self._key(a, b)] = done
        return done

    def _key(self, a: str, b: str) -> tuple[str, str, str, str]:
        return (self.prompt.ref, self._chat.model_name, a, b)

    def confidence(self, signals: Mapping[str, float | None]) -> float | None:
        """Calibrated P(contradict), or None when the endpoint gave no log-probabilities."""
        scored = self.calibrator.score(features(signals))
        return None if scored is None else scored.confidence

    def agreement(self, signals: Mapping[str, float | None]) -> float | None:
        """Calibrated P(agree): the two statements state the same thing. None without log-probabilities."""
        scored = self.agree_calibrator.score(features(signals))
        return None if scored is None else scored.confidence
