"""Server-Sent Events from work that runs in a worker thread and reports its steps through a callback.

The work is admitted to its queue before the response starts (so a full queue is a plain 429), runs in a thread,
and hands each event to the event loop; the stream sends them as they come, a keep-alive comment when nothing
has come for a while, and, if the work fails or runs past the time budget, one `error` event with the problem
body an unstreamed request would have got.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel

from service.domain.errors import RequestTimeout
from service.http.errors import problem_of
from service.http.limits import WorkQueue

KEEPALIVE_S = 10.0
Emit = Callable[[Any, BaseModel], None]
STREAM_HEADERS = {"X-Accel-Buffering": "no"}  # no proxy buffering: events must leave as they are made


def sse(event: str, data: BaseModel) -> bytes:
    """One event on the wire, its data as JSON."""
    return format_sse_event(event=event, data_str=data.model_dump_json())


def stream_work(
    queue: WorkQueue, budget_s: float | None, work: Callable[[Emit, threading.Event], object]
) -> AsyncIterator[tuple[str, BaseModel] | None]:
    """Start `work(emit, stop)` now (429 if the queue is full) and return the iterator of its events:
    `(name, payload)`, or None when a keep-alive is due. Failures become one `("error", Problem)`. When the client
    goes away (the iterator is closed early), `stop` is set so the work can end and free its place in the queue."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, BaseModel]] = asyncio.Queue()
    stop = threading.Event()

    def emit(name: Any, payload: BaseModel) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (str(name), payload))

    task = queue.start(work, emit, stop)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # read, so an abandoned failure isn't logged

    async def iterate() -> AsyncIterator[tuple[str, BaseModel] | None]:
        try:
            async for item in _events(task, events, budget_s):
                yield item
        finally:
            stop.set()

    return iterate()


async def _events(
    task: asyncio.Future[Any], events: asyncio.Queue[tuple[str, BaseModel]], budget_s: float | None
) -> AsyncIterator[tuple[str, BaseModel] | None]:
    deadline = None if budget_s is None else time.monotonic() + budget_s
    while True:
        if task.done() and events.empty():
            break
        left = KEEPALIVE_S if deadline is None else min(KEEPALIVE_S, deadline - time.monotonic())
        if left <= 0:
            yield (
                "error",
                problem_of(
                    RequestTimeout(f"the request took longer than its budget of {budget_s:.0f} s and was stopped")
                ),
            )
            return
        getter = asyncio.ensure_future(events.get())
        try:
            waited: set[asyncio.Future[Any]] = {getter, task}
            done, _ = await asyncio.wait(waited, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter in done:
            yield getter.result()
            continue
        if not done:
            yield None
    exc = task.exception()
    if exc is not None:
        yield "error", problem_of(exc)


def event_stream(events: AsyncIterator[tuple[str, BaseModel] | None]) -> EventSourceResponse:
    """The SSE response for `events` (see `stream_work`)."""

    async def body() -> AsyncIterator[bytes]:
        async for item in events:
            yield format_sse_event(comment="keep-alive") if item is None else sse(*item)

    return EventSourceResponse(body(), headers=STREAM_HEADERS)
