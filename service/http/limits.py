"""Bounded consumption: a per-key rate limit, bounded work queues, and a time budget per request.

- The rate limit counts every authenticated request per key (per client address when keyless) in a moving
  window, with the `limits` library; its storage is a URI, so replicas can share one (`redis://...`).
- A work queue admits at most `depth` requests into expensive work (a model call, embedding an upload). A request
  that finds it full gets 429 with `Retry-After` at once, instead of piling up threads behind a slow model.
- The time budget bounds how long a request waits. Past it the client gets 504; the work already handed to the
  model finishes in the background and only then frees its place in the queue, so a timeout never lets more
  work in than the queue allows.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from limits import parse, storage, strategies
from starlette.concurrency import run_in_threadpool

from service.domain.errors import RequestTimeout, TooManyRequests

T = TypeVar("T")


class RateLimiter:
    """A moving-window limit per caller (`"120/minute"`), or none."""

    def __init__(self, rate: str | None, storage_uri: str = "memory://") -> None:
        self._item = parse(rate) if rate else None
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))

    def hit(self, who: str) -> None:
        """Count one request of `who`; 429 with Retry-After past the limit."""
        if self._item is None or self._limiter.hit(self._item, who):
            return
        reset = self._limiter.get_window_stats(self._item, who).reset_time
        raise TooManyRequests(
            f"rate limit of {self._item} exceeded; retry later", retry_after_s=max(1.0, reset - time.time())
        )


class WorkQueue:
    """At most `depth` requests in expensive work at once; the rest are refused with a Retry-After estimate."""

    def __init__(self, name: str, depth: int, typical_s: float) -> None:
        self.name = name
        self.depth = depth
        self._inside = 0
        self._lock = threading.Lock()
        self._typical_s = typical_s  # moving average of how long one request's work takes

    @property
    def inside(self) -> int:
        return self._inside

    def _admit(self) -> None:
        with self._lock:
            if self._inside >= self.depth:
                wait = math.ceil(self._typical_s * self._inside / max(1, self.depth))
                raise TooManyRequests(
                    f"the {self.name} queue is full ({self.depth} requests in progress); retry later",
                    retry_after_s=max(1.0, wait),
                )
            self._inside += 1

    def _release(self, seconds: float) -> None:
        with self._lock:
            self._inside -= 1
            self._typical_s = 0.8 * self._typical_s + 0.2 * seconds

    def start(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Start `fn(*args)` in a worker thread if the queue admits it (else 429 at once); its place is freed when
        it really ends."""
        self._admit()

        def work() -> T:
            begun = time.monotonic()
            try:
                return fn(*args)
            finally:
                self._release(time.monotonic() - begun)

        return asyncio.ensure_future(run_in_threadpool(work))

    async def run(
        self, budget_s: float | None, fn: Callable[..., T], *args: object, stop: threading.Event | None = None
    ) -> T:
        """Run `fn(*args)` in a worker thread if the queue admits it, waiting at most `budget_s` for it. Past the
        budget, `stop` is set: work that watches it (an ask still waiting for its model turn) gives up."""
        task = self.start(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=budget_s)
        except TimeoutError as exc:
            if stop is not None:
                stop.set()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # read, so it isn't logged
            raise RequestTimeout(
                f"the request took longer than its budget of {budget_s:.0f} s; work already on the model goes on in "
                "the background, work still waiting for it is dropped"
            ) from exc


class Limits:
    """The limits of one app: built once from Settings by `create_app`."""

    def __init__(
        self, *, rate: str | None, rate_storage: str, model_depth: int, ingest_depth: int, budget_s: float | None
    ) -> None:
        self.rate = RateLimiter(rate, rate_storage)
        self.model = WorkQueue("model", model_depth, typical_s=15.0)
        self.ingest = WorkQueue("ingest", ingest_depth, typical_s=5.0)
        self.budget_s = budget_s
