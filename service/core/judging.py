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


def choice_probabilities(first_token: dict[str, float], options: Sequence[str]) -> dict[str, float] | None:
    """P(option) over the first token's alternatives, for one-word replies: a token counts for the option it begins
    (or is, any casing or leading space; at least two letters, so "a" or "c" alone count for none). Normalised over
    the options; None when no option is among the alternatives."""
    mass = dict.fromkeys(options, 0.0)
    for token, logprob in first_token.items():
        word = token.strip().lower()
        if len(word) < 2:
            continue
        for option in options:
            if option.startswith(word) or word.startswith(option):
                mass[option] += math.exp(logprob)
                break
    total = sum(mass.values())
    return None if total == 0.0 else {o: round(v / total, 6) for o, v in mass.items()}


def choose(
    chat: ChatModel, messages: Sequence[dict[str, str]], options: Sequence[str]
) -> tuple[dict[str, float] | None, Usage]:
    """Ask for a one-word reply among `options`; their probabilities, or None without log-probabilities."""
    result = chat.chat(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
    if not result.top_logprobs:
        return None, result.usage
    return choice_probabilities(result.top_logprobs[0], options), result.usage
