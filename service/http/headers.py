"""The security headers every response carries (one list, for the middleware and the 500 handler)."""

from __future__ import annotations

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The docs page is served from packaged assets; Swagger UI starts from one inline script.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = ("/docs", "/redoc", "/static-offline-docs/")
# The reading page: its own scripts and styles only (no inline code), images it fetched with the key (blob:).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_PATHS = ("/ui/",)


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The headers every response to `path` carries."""
    if path == "/" or path.startswith(PAGE_PATHS):
        csp = PAGE_CSP
    else:
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else API_CSP
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"content-security-policy", csp.encode()),
        (b"cache-control", b"no-store"),
    ]
