"""The /v1/keys routes (admin only): create a key (its token is in this one response), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from service.access.service import KeyService
from service.domain.access import ApiKey, Principal, Role
from service.domain.errors import Forbidden, NotFound
from service.http.auth import Admin
from service.http.deps import provide
from service.http.pages import Cursor, Limit, Page, page_of


class KeyIn(BaseModel):
    """A key to create: its role, the collections it may see (omit for all) and a name to recognise it by."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    collections: list[str] | None = Field(default=None, max_length=100)
    name: str = Field(default="", max_length=200)


class KeyCreated(ApiKey):
    """The new key with its token: shown once, stored only as a hash."""

    token: str


key_service = provide("access", KeyService)
Keys = Annotated[KeyService, Depends(key_service)]
router = APIRouter(tags=["keys"])


def _unscoped(caller: Principal) -> None:
    if caller.collections is not None:
        raise Forbidden("only an admin of every collection manages keys")


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyIn, keys: Keys, caller: Admin) -> KeyCreated:
    """Create an API key; the token is in this response only."""
    _unscoped(caller)
    key, token = keys.create(body.role, body.collections, body.name)
    return KeyCreated(**key.model_dump(), token=token)


@router.get("/keys", response_model=Page[ApiKey])
def list_keys(keys: Keys, caller: Admin, limit: Limit = 100, cursor: Cursor = None) -> Page[ApiKey]:
    """Keys (without tokens), newest first, a page at a time."""
    _unscoped(caller)
    return page_of(keys.list(), limit, cursor)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, keys: Keys, caller: Admin) -> Response:
    """Revoke a key: it is refused from the next request on."""
    _unscoped(caller)
    if not keys.revoke(key_id):
        raise NotFound(f"no active key {key_id!r}")
    return Response(status_code=204)
