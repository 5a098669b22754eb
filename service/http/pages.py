"""Cursor pagination for every list: `?limit=&cursor=`, answered as `{items, next_cursor}`.

Cursors are opaque to clients (URL-safe base64 of a small JSON position). Documents and jobs page by keyset in
the database (their last item's creation time and id), so a page is stable while new items arrive; short derived
lists (facts, extractions, keys) page by position in their deterministic order.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from service.domain.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page; omit for the first.")
]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null when there is none.")


def _bad_cursor(what: str = "of this list") -> InvalidInput:
    return InvalidInput(f"cursor: not a cursor {what}", [("cursor", "invalid cursor")])


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *keys: str) -> dict[str, Any] | None:
    """The position in `cursor` (None for the first page); 422 for anything this API did not hand out."""
    if cursor is None:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor("this API returned") from exc
    if not isinstance(raw, dict) or set(raw) != set(keys):
        raise _bad_cursor()
    return raw


def page_of(items: Sequence[T], limit: int, cursor: str | None) -> Page[T]:
    """A page of an in-memory list in its deterministic order (position cursors)."""
    pos = decode_cursor(cursor, "offset")
    start = pos["offset"] if pos else 0
    if not isinstance(start, int) or start < 0:
        raise _bad_cursor()
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page[T](items=chunk, next_cursor=encode_cursor({"offset": start + limit}) if more else None)


def keyset_after(cursor: str | None) -> tuple[dt.datetime, str] | None:
    """The (created_at, id) position in a keyset cursor."""
    pos = decode_cursor(cursor, "created_at", "id")
    if pos is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(pos["created_at"])), str(pos["id"])
    except ValueError as exc:
        raise _bad_cursor() from exc


def keyset_page(rows: Sequence[T], limit: int, key: Callable[[T], tuple[dt.datetime, str]]) -> Page[T]:
    """A page from `limit + 1` rows fetched after a keyset position: the extra row says there is more."""
    chunk = list(rows[:limit])
    if len(rows) <= limit:
        return Page[T](items=chunk, next_cursor=None)
    when, last_id = key(chunk[-1])
    return Page[T](items=chunk, next_cursor=encode_cursor({"created_at": when.isoformat(), "id": last_id}))
