"""Model turns: a request's calls run back to back, other threads' calls wait for the turn to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.core.turns import ModelTurns, TurnTakingChat
from service.domain.models import ChatResult, DocumentMeta, Usage
from tests.conftest import make_container, make_settings
from tests.stub_openai import StubServer, quoting, schema_name


class _Recording:
    """A chat model port that records the order of its calls (an in-memory fake of the port under test's inner)."""

    model_name = "fake"

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
    assert chat.model_name == "fake"


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


def _enters(turns: ModelTurns, nested: bool = False) -> bool:
    """Whether a turn (a turn inside a turn, with `nested`) is entered and left within 5 s, from another thread:
    a turn that waits for ever fails the test instead of hanging it."""
    done = threading.Event()

    def take() -> None:
        with turns.turn():
            if nested:
                with turns.turn():
                    pass
        done.set()

    threading.Thread(target=take, daemon=True).start()
    return done.wait(timeout=5)


def test_reentering_a_turn_does_not_wait_for_itself() -> None:
    turns = ModelTurns(1)
    assert _enters(turns, nested=True)
    assert _enters(turns)  # the slot came back after the nested turn


def test_turns_are_given_in_the_order_they_were_asked_for() -> None:
    turns = ModelTurns(1)
    order: list[int] = []
    queued = threading.Semaphore(0)

    def wait_in_line(n: int) -> None:
        def still_wanted() -> None:  # called while it waits: it is in line
            queued.release()

        with turns.turn(still_wanted):
            order.append(n)

    with turns.turn():
        threads = []
        for n in range(4):
            threads.append(threading.Thread(target=wait_in_line, args=(n,)))
            threads[-1].start()
            assert queued.acquire(timeout=5)  # n is in line before n + 1 asks
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3]


def test_no_limit_never_waits() -> None:
    turns = ModelTurns(None)
    with turns.turn():
        assert _enters(turns)


def test_concurrent_asks_each_run_their_answer_and_judges_back_to_back(tmp_path: Path) -> None:
    """Two asks at once against a stub over HTTP: the calls arrive answer, judges, answer, judges."""
    log: list[str] = []
    shared = quoting()

    def step(body: dict[str, Any]) -> tuple[Any, ...]:
        if schema_name(body) == "qa_answer":
            log.append("answer")
            return ("sleep", 0.3, shared(body)[1])  # a slow answer: the other ask's calls would slip in here
        return shared(body)

    report = "Station Alpha sent 12 crates to Port Beta in May. Station Gamma received 40 drums of fuel in June."
    with StubServer([step]) as stub:
        stub.judge_yes = lambda _body: log.append("judge") or 0.9
        settings = make_settings(
            tmp_path, llm_base_url=stub.base_url, llm_model="stub", llm_max_attempts=1, llm_concurrency=1
        )  # a configured endpoint has no limit by default; one turn at a time as on the embedded server
        c = make_container(settings)
        c.ingest.ingest_text(report, DocumentMeta(title="Stations"), "k")
        questions = ["How many crates did Station Alpha send?", "How many drums did Station Gamma receive?"]
        answers: list[Any] = []
        threads = [threading.Thread(target=lambda q=q: answers.append(c.qa.ask(q))) for q in questions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 2 and all(a.meta.usage.calls == 3 for a in answers)
    assert log == ["answer", "judge", "judge", "answer", "judge", "judge"]


def test_turns_default_to_one_on_the_embedded_server_and_no_limit_on_an_endpoint(tmp_path: Path) -> None:
    assert make_settings(tmp_path).model_turns == 1
    assert make_settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1").model_turns is None
    assert make_settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_concurrency=4).model_turns == 4
