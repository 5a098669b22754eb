"""Dependencies every router may take (`Annotated`, so tests can use `app.dependency_overrides`).

They read what `create_app` put on `app.state`; they import no capability and no wiring, so a capability's
router can use them without depending on another capability.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from service.config import Settings
from service.domain.access import Principal
from service.domain.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from service.domain.models import Document
from service.domain.ports import DocumentRepository, JobQueue
from service.http.limits import Limits

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def container_of(request: Request) -> Any:
    """The composition root of this app (typed `Any` here so that routers don't import the wiring)."""
    return request.app.state.container


def provide(attr: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency returning the container's `attr` (a service or port of type `kind`); override it in tests
    with `app.dependency_overrides[that_dependency] = ...`."""

    async def dependency(request: Request) -> T:  # async: no worker thread for a getattr
        value: T = getattr(container_of(request), attr)
        return value

    dependency.__name__ = f"{attr}_dependency"
    return dependency


async def bounded_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes` (by Content-Length, and while reading)."""
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError as exc:
        raise InvalidInput("Content-Length is not a number") from exc
    if declared > max_bytes:
        raise PayloadTooLarge(f"request is {declared} bytes; the limit is {max_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"request is over {max_bytes} bytes")
    return bytes(body)


async def limits_of(request: Request) -> Limits:
    """The app's rate limiter, work queues and time budget."""
    limits: Limits = request.app.state.limits
    return limits


async def job_queue(request: Request) -> JobQueue:
    """Where summary batches and long extractions run: the app's job thread, or workers fed through Postgres."""
    queue: JobQueue = request.app.state.container.queue
    return queue


document_repo = provide("repo", DocumentRepository)  # type: ignore[type-abstract]
settings = provide("settings", Settings)


Repo = Annotated[DocumentRepository, Depends(document_repo)]
AppSettings = Annotated[Settings, Depends(settings)]
AppLimits = Annotated[Limits, Depends(limits_of)]
Queue = Annotated[JobQueue, Depends(job_queue)]


def parse_json(model: type[M], raw: bytes) -> M:
    """Validate a JSON body; errors name the field and the problem."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        fields = [(".".join(map(str, er["loc"])) or "body", er["msg"]) for er in exc.errors()]
        msg = "; ".join(f"{f}: {m}" for f, m in fields)
        raise InvalidInput(msg or "invalid JSON body", fields) from exc


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that parses its JSON body itself (nested models inlined: no dangling `$defs`)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def require_document(repo: DocumentRepository, document_id: str, caller: Principal) -> Document:
    """The document, if it exists in a collection `caller` may see; else 404 (never a hint that it exists)."""
    doc = repo.get(document_id)
    if doc is None or not caller.can_see(doc.collection):
        raise NotFound(f"document {document_id!r} does not exist")
    return doc


def require_collection(caller: Principal, collection: str) -> str:
    """`collection`, if `caller` may see it; else 403."""
    if not caller.can_see(collection):
        raise Forbidden(f"this key may not use collection {collection!r}")
    return collection
