"""Maps domain errors, once, to RFC 9457 problem details (`application/problem+json`) naming the problem.

Every error body has `type`, `title`, `status` and `detail`, plus Dossier's `code` (what the CLI prints) and,
for a request that failed validation, `errors`: one entry per field. Nothing in a body names a file, a setting
or a stack frame: details of server-side failures are logged, and what reaches the client is redacted.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.domain import errors as e
from service.http.headers import security_headers

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

STATUS: list[tuple[type[e.DossierError], int]] = [
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.InvalidInput, 422),
    (e.Unauthenticated, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.TooManyRequests, 429),
    (e.RequestTimeout, 504),
    (e.ModelUnavailable, 503),
    (e.ModelRequestRejected, 502),
    (e.ModelOutputInvalid, 502),
    (e.ConfigurationError, 500),
]
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Timed out",
}


class FieldError(BaseModel):
    """One field that failed validation."""

    field: str = Field(description="Dotted path of the field in the body, query or path ('body' for the whole).")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(description="URI naming the kind of problem: urn:dossier:problem:<code>.")
    title: str
    status: int
    detail: str = Field(description="What was wrong, naming the field or resource.")
    code: str = Field(description="Dossier's error code (stable; the CLI prints it).")
    errors: list[FieldError] | None = Field(default=None, description="Per-field errors of a 422.")


def problem_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for every route: 4xx and 5xx bodies are problem details."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        "4XX": {"description": "The request was refused (problem details).", "content": content},
        "5XX": {"description": "The server or its model failed (problem details).", "content": content},
    }


_PATHLIKE = re.compile(r"(?<![\w:/])(?:[A-Za-z]:)?(?:/[\w.@+-]+){2,}/?")
_SECRETS = re.compile(r"(?i)(bearer\s+|api[_-]?key[=:]\s*|://[^/\s:@]+:)[^\s@/]+")


def redact(text: str) -> str:
    """`text` without filesystem paths or credentials (for anything a client may read)."""
    return _PATHLIKE.sub("<path>", _SECRETS.sub(r"\1<redacted>", text))


def status_for(exc: e.DossierError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def problem_of(exc: BaseException) -> Problem:
    """The problem body for an error that happened after a streamed response began (sent as its last event)."""
    if isinstance(exc, e.DossierError):
        status, code, detail = status_for(exc), exc.code, exc.message
    else:
        log.error("unhandled error in a stream", exc_info=exc)
        status, code, detail = 500, "internal_error", f"unexpected {type(exc).__name__}; see the server log"
    return Problem(
        type=f"urn:dossier:problem:{code}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=redact(detail) if status >= 500 else detail,
        code=code,
    )


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    retry_after_s: float | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem-details response."""
    body = Problem(
        type=f"urn:dossier:problem:{code}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=redact(detail) if status >= 500 else detail,
        code=code,
        errors=errors,
    )
    out = dict(headers or {})
    if retry_after_s is not None:
        out["Retry-After"] = str(max(1, round(retry_after_s)))
    return JSONResponse(
        status_code=status, content=body.model_dump(exclude_none=True), headers=out or None, media_type=PROBLEM_JSON
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(e.DossierError)
    async def _domain(_: Request, exc: e.DossierError) -> JSONResponse:
        retry = getattr(exc, "retry_after_s", None)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, e.Unauthenticated) else None
        status = status_for(exc)
        fields = getattr(exc, "fields", None)
        errors = [FieldError(field=f, message=m) for f, m in fields] if fields else None
        if status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        return problem(status, exc.code, exc.message, retry_after_s=retry, headers=headers, errors=errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header"))
            fields.append(FieldError(field=loc or "body", message=str(err.get("msg"))))
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields)
        return problem(422, "invalid_request", detail, errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware, so the security headers are added here.
        log.exception("unhandled error")
        response = problem(500, "internal_error", f"unexpected {type(exc).__name__}; see the server log")
        for name, value in security_headers(request.url.path):
            response.headers[name.decode()] = value.decode()
        return response
