"""Browser-facing hardening: security headers on every response, and no cross-site writes.

A cross-origin `POST` with a form or `text/plain` body is a "simple" request: browsers send it without a CORS
preflight, so any web page the operator opens could plant or overwrite reports. Browsers always send `Origin`
on such requests (and `Sec-Fetch-Site`), so a state-changing request whose origin is neither this server's own
nor one of the configured CORS origins is refused with 403 before any route runs. Clients outside a browser
(curl, the SDKs, other services) send no `Origin` and are unaffected.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.errors import problem
from service.http.headers import security_headers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


class CrossSiteGuard:
    """ASGI middleware refusing state-changing requests that a browser sends from another site."""

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}

    def _refusal(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return None
        headers = Headers(scope=scope)
        origin = (headers.get("origin") or "").rstrip("/").lower()
        if origin:
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
            if origin == own or origin in self.allowed:
                return None
            return f"cross-site {scope['method']} from origin {origin!r} refused; allow it in DOSSIER_CORS_ORIGINS"
        if headers.get("sec-fetch-site") == "cross-site":
            return f"cross-site {scope['method']} refused (Sec-Fetch-Site: cross-site)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self._refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        await problem(403, "cross_site_request", reason)(scope, receive, send)
