"""Disagreements decided by the pair judgement: the model's probabilities (a fake of the chat port answering
from a table of pairs), calibrated; which pairs are judged; the judgements kept."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import yaml

from service.adapters.files.prompts import YamlPromptStore
from service.core.calibration import Calibrator, CalibratorFile
from service.core.comparing import PairJudge
from service.core.judging import choice_probabilities
from service.domain.models import ChatResult, Usage
from service.domain.ports import PromptTemplate
from service.summarize.conflicts import judged_conflicts
from tests.conftest import AGREE_CALIBRATOR, CLAIM_CALIBRATOR, ROOT
from tests.fakes import HashingEmbedder


class TableChat:
    """A chat port answering one-token judgements: 'contradict' and 'No' (both true?) for the pairs in `clash`,
    'unrelated' and 'Yes' for every other pair; or no log-probabilities at all."""

    model_name = "table"

    def __init__(self, clash: set[frozenset[str]], logprobs: bool = True) -> None:
        self.clash = clash
        self.logprobs = logprobs
        self.asked: list[str] = []

    def chat(self, messages: Sequence[dict[str, str]], **kw: Any) -> ChatResult:
        user = messages[-1]["content"]
        a = user.split('A: "', 1)[1].split('"\nB: "', 1)[0]
        b = user.split('B: "', 1)[1].split('"\n', 1)[0]
        self.asked.append(user)
        hit = frozenset((a, b)) in self.clash
        if "one word" in user:
            top = {"contradict": 0.9, "unrelated": 0.05, "agree": 0.05} if hit else {"unrelated": 0.9, "agree": 0.1}
        else:
            top = {"No": 0.9, "Yes": 0.1} if hit else {"Yes": 0.9, "No": 0.1}
        logprobs = [{t: math.log(p) for t, p in top.items()}] if self.logprobs else None
        return ChatResult(content=next(iter(top)), model="table", usage=Usage(calls=1), top_logprobs=logprobs)


def _judge(chat: TableChat) -> PairJudge:
    prompt: PromptTemplate = YamlPromptStore(ROOT / "prompts").get("compare")
    calibrators = [
        Calibrator(CalibratorFile.model_validate(yaml.safe_load(x))) for x in (CLAIM_CALIBRATOR, AGREE_CALIBRATOR)
    ]
    return PairJudge(chat, prompt, *calibrators)


UNITS = [
    ("At least 4 of the new missiles appeared in the parade in Pyongyang.", "a"),
    ("The observatory counted only 2 of the new missiles in the parade in Pyongyang.", "b"),
    ("4 new missiles appeared in the parade in Pyongyang, the broadcast showed.", "a"),  # same report as the first
    ("Weather was mild in Geneva.", "c"),
]


def test_pairs_the_judge_finds_contradictory_are_listed_with_their_probability() -> None:
    chat = TableChat({frozenset((UNITS[0][0], UNITS[1][0]))})
    found, usage = judged_conflicts(UNITS, _judge(chat), HashingEmbedder(), threshold=0.5)
    assert [(c.a, c.b) for c in found] == [(1, 2)]
    assert found[0].confidence > 0.5
    assert usage.calls == len(chat.asked) and usage.calls % 2 == 0  # two questions a judged pair
    same_report = (UNITS[0][0], UNITS[2][0])
    assert not any(same_report[0] in q and same_report[1] in q for q in chat.asked)


def test_only_the_nearest_pairs_are_judged_and_a_threshold_above_every_pair_lists_none() -> None:
    chat = TableChat({frozenset((UNITS[0][0], UNITS[1][0]))})
    found, usage = judged_conflicts(UNITS, _judge(chat), HashingEmbedder(), threshold=0.99, pairs=2)
    assert found == [] and usage.calls == 4


def test_without_log_probabilities_nothing_is_decided() -> None:
    chat = TableChat({frozenset((UNITS[0][0], UNITS[1][0]))}, logprobs=False)
    found, usage = judged_conflicts(UNITS, _judge(chat), HashingEmbedder(), threshold=0.0)
    assert found == [] and usage.calls > 0


def test_a_pair_is_judged_once() -> None:
    chat = TableChat(set())
    judge = _judge(chat)
    first = judge.judge("A ship sailed.", "A plane flew.")
    again = judge.judge("A ship sailed.", "A plane flew.")
    assert first.usage.calls == 2 and again.usage.calls == 0 and again.signals == first.signals
    assert first.signals["related"] is not None and first.signals["related"] < 0.2


def test_one_word_replies_count_for_the_option_they_begin() -> None:
    p = choice_probabilities(
        {"contr": math.log(0.5), " Contradict": math.log(0.2), "un": math.log(0.2), "a": math.log(0.1)},
        ("agree", "contradict", "unrelated"),
    )
    assert p is not None and abs(p["contradict"] - 0.7 / 0.9) < 1e-6 and p["agree"] == 0.0
    assert choice_probabilities({"Yes": 0.0}, ("agree", "contradict")) is None
