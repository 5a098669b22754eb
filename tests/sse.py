"""Reading a streamed `POST /v1/ask` (Server-Sent Events) with a real HTTP client, for the stream tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def read_events(url: str, body: dict[str, Any], timeout: float = 600) -> Iterator[tuple[str, Any]]:
    """Each `(event, data)` of the stream as it arrives (data parsed as JSON)."""
    with httpx.stream("POST", f"{url}/v1/ask", json={**body, "stream": True}, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        event, data = "message", ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                yield event, json.loads(data)
                event, data = "message", ""
