"""The model's own probability of "yes": one generated token, read from its top log-probabilities (P(True) of
Kadavath et al. 2022). The judge question asks for Yes or No, so those are the two replies weighed."""

from __future__ import annotations

import math
from collections.abc import Sequence

from service.domain.models import Usage
from service.domain.ports import ChatModel

TOP_LOGPROBS = 10  # alternatives asked for: enough to hold both replies in every casing and spacing seen


def yes_probability(first_token: dict[str, float]) -> float | None:
    """P(yes) / (P(yes) + P(no)) over the first token's alternatives (any casing or leading space); None when
    neither reply is among them."""
    yes = no = 0.0
    for token, logprob in first_token.items():
        word = token.strip().lower()
        if word == "yes":
            yes += math.exp(logprob)
        elif word == "no":
            no += math.exp(logprob)
    return None if yes + no == 0.0 else yes / (yes + no)


def judge(chat: ChatModel, messages: Sequence[dict[str, str]]) -> tuple[float | None, Usage]:
    """Ask a yes/no question for one token; P(yes), or None when the endpoint returns no log-probabilities."""
    result = chat.chat(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
    if not result.top_logprobs:
        return None, result.usage
    p = yes_probability(result.top_logprobs[0])
    return (None if p is None else round(p, 6)), result.usage
