"""The caller of each request: `Authorization: Bearer <key>` checked against the role a route needs.

Routes take `Reader`, `Writer` or `Admin` (a `Principal`); 401 without a valid key, 403 with too weak a role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.domain.access import Principal, Role
from service.domain.errors import Forbidden, Unauthenticated
from service.domain.ports import Authenticator
from service.http.deps import provide
from service.http.limits import Limits

authenticator = provide("access", Authenticator)  # type: ignore[type-abstract]
# Declares the scheme in OpenAPI; the header itself is parsed below, strictly.
bearer = HTTPBearer(auto_error=False, description="An API key from `dossier keys create`.")
MAX_TOKEN_CHARS = 200


def bearer_token(request: Request) -> str | None:
    """The bearer token of `request`, None without an Authorization header; 401 for any other scheme."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN_CHARS:
        raise Unauthenticated("the Authorization header must be `Bearer <key>`")
    return value


def require(role: Role) -> Callable[..., Principal]:
    """A dependency admitting callers with at least `role`."""

    def dependency(
        request: Request,
        auth: Annotated[Authenticator, Depends(authenticator)],
        _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        principal = auth.authenticate(bearer_token(request), request.headers.get("host", ""))
        if not principal.has_role(role):
            raise Forbidden(f"this key has the role {principal.role!r}; this request needs {role!r}")
        client = request.client.host if request.client else "unknown"
        limits: Limits = request.app.state.limits
        limits.rate.hit(principal.key_id or f"address:{client}")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Reader = Annotated[Principal, Depends(require("reader"))]
Writer = Annotated[Principal, Depends(require("writer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
