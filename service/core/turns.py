"""Model turns: a request's model calls run back to back.

An endpoint that serves one request at a time (the embedded llama.cpp server) answers calls in the order they
arrive. Under concurrent asks, every ask's answer call then lands before any ask's judges, so all asks finish at
the end, and each judge finds another ask's prompt in the server's KV cache instead of its own. A turn holds the
endpoint for a sequence of calls (an answer and its judges); calls made outside a turn take one each. `slots` turns
run at once: 1 for an endpoint that serves one request at a time, more for one that serves many.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from service.domain.models import ChatResult
from service.domain.ports import ChatModel

_WAIT_S = 0.25  # how often a waiting turn asks whether it is still wanted


class ModelTurns:
    """At most `slots` turns at once (None: no limit), given in the order they were asked for; a thread already in
    a turn re-enters it without waiting."""

    def __init__(self, slots: int | None) -> None:
        self._slots = slots
        self._busy = 0
        self._line: deque[object] = deque()
        self._changed = threading.Condition()
        self._local = threading.local()

    @contextmanager
    def turn(self, still_wanted: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold a turn for the calls inside the block. While it waits, `still_wanted` is called every quarter
        second and may raise to give up its place (a client that went away)."""
        depth = getattr(self._local, "depth", 0)
        taken = depth == 0 and self._slots is not None
        if taken:
            self._wait(still_wanted)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if taken:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

    def _wait(self, still_wanted: Callable[[], None] | None) -> None:
        ticket = object()
        with self._changed:
            self._line.append(ticket)
            try:
                while not (self._line[0] is ticket and self._busy < (self._slots or 0)):
                    self._changed.wait(timeout=_WAIT_S)
                    if still_wanted is not None:
                        still_wanted()
            except BaseException:
                self._line.remove(ticket)
                self._changed.notify_all()
                raise
            self._line.popleft()
            self._busy += 1
            self._changed.notify_all()  # the next in line may fit too


class TurnTakingChat:
    """A `ChatModel` whose every call runs in a turn (its caller's, or one of its own)."""

    def __init__(self, inner: ChatModel, turns: ModelTurns) -> None:
        self._inner = inner
        self._turns = turns

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> ChatResult:
        with self._turns.turn():
            return self._inner.chat(messages, **kwargs)
