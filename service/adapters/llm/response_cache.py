"""A local response cache in front of any ChatModel, for evals: re-running unchanged items costs nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.domain.models import ChatResult
from service.domain.ports import ChatModel


def cache_key(identity: dict[str, Any], request: dict[str, Any]) -> str:
    """sha256 of the model identity (name, endpoint, sampling) and the full request."""
    payload = json.dumps({"identity": identity, "request": request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachingChatModel:
    """ChatModel decorator backed by one SQLite file. Only successful completions are stored.

    `identity` must name everything besides the request that shapes the output: model, endpoint,
    temperature, seed, structured-output mode. Never commit the file; `--no-cache` skips the wrapper.
    """

    def __init__(self, inner: ChatModel, path: Path, identity: dict[str, Any]) -> None:
        self._inner = inner
        self._identity = identity
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "output",
        max_tokens: int = 512,
        on_text: Callable[[str], None] | None = None,
        top_logprobs: int | None = None,
    ) -> ChatResult:
        """Return the stored completion for an identical request (shown whole to `on_text`), else call the model
        and store it. A streamed call is not stored: servers may report no token usage for streams."""
        request: dict[str, Any] = {"messages": list(messages), "json_schema": json_schema, "max_tokens": max_tokens}
        if top_logprobs is not None:
            request["top_logprobs"] = top_logprobs
        key = cache_key(self._identity, request)
        with self._lock:
            row = self._db.execute("SELECT result FROM responses WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            cached = ChatResult.model_validate_json(row[0])
            if on_text is not None:
                on_text("")
                on_text(cached.content)
            return cached
        self.misses += 1
        result = self._inner.chat(
            messages,
            json_schema=json_schema,
            schema_name=schema_name,
            max_tokens=max_tokens,
            on_text=on_text,
            top_logprobs=top_logprobs,
        )
        if on_text is not None:
            return result
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, result) VALUES (?, ?)", (key, result.model_dump_json())
            )
            self._db.commit()
        return result

    def close(self) -> None:
        self._db.close()
