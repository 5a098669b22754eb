"""Maps domain errors to HTTP responses with a message naming the problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.domain import errors as e

STATUS: list[tuple[type[e.DossierError], int]] = [
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.InvalidInput, 422),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.ModelUnavailable, 503),
    (e.ModelRequestRejected, 502),
    (e.ModelOutputInvalid, 502),
    (e.ConfigurationError, 500),
]


def status_for(exc: e.DossierError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_response(status: int, code: str, message: str, retry_after_s: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, round(retry_after_s)))} if retry_after_s is not None else None
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(e.DossierError)
    async def _domain(_: Request, exc: e.DossierError) -> JSONResponse:
        retry = getattr(exc, "retry_after_s", None)
        return error_response(status_for(exc), exc.code, exc.message, retry)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{loc or 'body'}: {err.get('msg')}")
        return error_response(422, "invalid_request", "; ".join(parts))
