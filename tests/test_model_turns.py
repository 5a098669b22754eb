"""Model turns: a request's calls run back to back, other threads' calls wait for the turn to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from service.core.turns import ModelTurns, TurnTakingChat
from service.domain.models import ChatResult, Usage


class _Recording:
    """A chat model port that records the order of its calls (an in-memory fake of the port under test's inner)."""

    model_name = "fake"
    structured_mode = "json_schema"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> ChatResult:
        self.calls.append(messages[0]["content"])
        time.sleep(0.01)
        return ChatResult(content="{}", model="fake", usage=Usage(calls=1))


def test_a_turns_calls_are_not_interleaved_with_another_threads() -> None:
    inner = _Recording()
    turns = ModelTurns(1)
    chat = TurnTakingChat(inner, turns)
    inside = threading.Event()

    def other() -> None:
        inside.wait()
        chat.chat([{"role": "user", "content": "other"}])

    t = threading.Thread(target=other)
    t.start()
    with turns.turn():
        chat.chat([{"role": "user", "content": "answer"}])
        inside.set()
        time.sleep(0.1)  # the other thread is now waiting for the turn
        chat.chat([{"role": "user", "content": "judge"}])
    t.join()
    assert inner.calls == ["answer", "judge", "other"]
    assert chat.model_name == "fake" and chat.structured_mode == "json_schema"


def test_two_slots_let_two_turns_run_at_once() -> None:
    turns = ModelTurns(2)
    both = threading.Barrier(2, timeout=5)

    def hold() -> None:
        with turns.turn():
            both.wait()  # breaks (raises) unless both turns are held at the same time

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not both.broken


def test_a_waiting_turn_gives_up_when_no_longer_wanted() -> None:
    turns = ModelTurns(1)
    gone = threading.Event()

    class Gone(Exception):
        pass

    def still_wanted() -> None:
        if gone.is_set():
            raise Gone

    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            with turns.turn(still_wanted):
                pass
        except Gone as exc:
            errors.append(exc)

    with turns.turn():
        t = threading.Thread(target=waiter)
        t.start()
        gone.set()
        t.join(timeout=5)
    assert len(errors) == 1
    with turns.turn():  # the slot was not leaked by the one that gave up
        pass


def test_reentering_a_turn_does_not_wait_for_itself() -> None:
    turns = ModelTurns(1)
    entered: list[int] = []
    with turns.turn(), turns.turn():
        entered.append(1)
    done = threading.Event()
    threading.Thread(target=lambda: (turns.turn().__enter__(), done.set())).start()
    assert done.wait(timeout=5) and entered == [1]  # the slot came back after the nested turn
