"""Who may do what: API keys, roles and the collections a key may see."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# Timestamps are UTC; SQLite hands them back without a zone, so they are made aware (RFC 3339 on the wire).
UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]
Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")  # each role may do everything the ones before it may
DEFAULT_COLLECTION = "default"
COLLECTION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_collection(name: str) -> str:
    """`name` if it is a valid collection name (lowercase letters, digits, `_`, `-`; at most 63), else ValueError."""
    if not COLLECTION_RE.match(name):
        raise ValueError(
            f"collection {name[:80]!r} is not a valid name: use 1-63 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class ApiKey(BaseModel):
    """A stored key: never the token itself, only its hash and a short prefix to recognise it by."""

    id: str
    name: str
    role: Role
    collections: list[str] | None = Field(description="Collections the key may see; null means all.")
    prefix: str = Field(description="The token's first characters, to tell keys apart.")
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None = None


class Principal(BaseModel):
    """The caller of one request: a key's role and collections, or the keyless operator on loopback."""

    key_id: str | None
    role: Role
    collections: frozenset[str] | None = None  # None: every collection

    def has_role(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def can_see(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def visible(self, wanted: list[str] | None) -> list[str] | None:
        """The collections a request over `wanted` (None: all it may see) reads; None means no restriction."""
        if wanted is None:
            return None if self.collections is None else sorted(self.collections)
        return [c for c in wanted if self.can_see(c)]
