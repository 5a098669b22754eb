"""HTTP routes."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service.api.schemas import AskIn, DocumentDetail, DocumentOut, IngestOut, TextDocumentIn
from service.container import Container
from service.domain.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from service.domain.models import Answer, DocumentMeta, RetrievalFilter
from service.services.ingest import IngestResult
from service.services.segment import segment

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TextDocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "source": {"type": "string"},
                        "url": {"type": "string"},
                        "published": {"type": "string", "format": "date"},
                        "key": {"type": "string"},
                    },
                }
            },
        },
    }
}


M = TypeVar("M", bound=BaseModel)
UPLOAD_FIELDS = {"file", "title", "source", "url", "published", "key"}


def parse_json(model: type[M], raw: bytes) -> M:
    """Validate a JSON body; errors name the field and the problem."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, er['loc'])) or 'body'}: {er['msg']}" for er in exc.errors())
        raise InvalidInput(msg or "invalid JSON body") from exc


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _meta_from_form(form: dict[str, Any]) -> DocumentMeta:
    try:
        published = form.get("published")
        return DocumentMeta(
            title=form.get("title") or None, source=form.get("source") or None, url=form.get("url") or None,
            published=dt.date.fromisoformat(published) if published else None,
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidInput(f"published: expected YYYY-MM-DD ({exc})") from exc


def _ingest_response(result: IngestResult) -> JSONResponse:
    body = IngestOut(
        **DocumentOut.of(result.document).model_dump(), status=result.status, replaced_id=result.replaced_id
    )
    return JSONResponse(status_code=200 if result.status == "unchanged" else 201, content=body.model_dump(mode="json"))


def build_router(container: Container) -> APIRouter:
    """Routes bound to one container."""
    router = APIRouter()
    max_bytes = container.settings.max_upload_bytes

    @router.post(
        "/documents",
        status_code=201,
        response_model=IngestOut,
        openapi_extra=_UPLOAD_DOC,
        responses={200: {"description": "unchanged (same content already stored)"}},
    )
    async def create_document(request: Request) -> JSONResponse:
        """Ingest a report: JSON `{text, title, ...}` or a multipart file upload."""
        ctype = request.headers.get("content-type", "")
        length = int(request.headers.get("content-length") or 0)
        if length > max_bytes * 2 + 65536:
            raise PayloadTooLarge(f"request is {length} bytes; the limit is {max_bytes}")
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("multipart upload needs a `file` field")
            data = await upload.read(max_bytes + 1)
            unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
            if unknown:
                raise InvalidInput(
                    f"unknown form fields: {', '.join(unknown)}; expected {', '.join(sorted(UPLOAD_FIELDS))}"
                )
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            result = await run_in_threadpool(
                container.ingest.ingest_bytes,
                upload.filename or "upload.txt",
                data,
                _meta_from_form(fields),
                fields.get("key") or None,
            )
            return _ingest_response(result)
        if not ctype.startswith("application/json"):
            raise UnsupportedMediaType(
                f"content type {ctype or '(none)'!r}; send application/json or multipart/form-data"
            )
        body = parse_json(TextDocumentIn, await request.body())
        meta = DocumentMeta(**body.model_dump(include={"title", "source", "url", "published"}))
        return _ingest_response(await run_in_threadpool(container.ingest.ingest_text, body.text, meta, body.key))

    @router.get("/documents", response_model=list[DocumentOut])
    def list_documents() -> list[DocumentOut]:
        """List stored reports, newest first."""
        return [DocumentOut.of(d) for d in container.repo.list()]

    @router.get("/documents/{document_id}", response_model=DocumentDetail)
    def get_document(document_id: str) -> DocumentDetail:
        """One report with its verbatim text and sentence offsets."""
        doc = container.repo.get(document_id)
        if doc is None:
            raise NotFound(f"document {document_id!r} does not exist")
        return DocumentDetail(**DocumentOut.of(doc).model_dump(), text=doc.text, sentences=segment(doc.text))

    @router.delete("/documents/{document_id}", status_code=204)
    def delete_document(document_id: str) -> Response:
        """Delete a report; it is never retrieved again."""
        if not container.ingest.delete(document_id):
            raise NotFound(f"document {document_id!r} does not exist")
        return Response(status_code=204)

    @router.post("/ask", response_model=Answer, openapi_extra=_json_body(AskIn))
    async def ask(request: Request) -> Answer:
        """Answer a question with verified citations, or abstain."""
        # JSON whatever the content type says: `curl -d '{"question": ...}'` sends form encoding.
        body = parse_json(AskIn, await request.body())
        if body.document_ids:
            known = container.repo.ids()
            missing = [i for i in dict.fromkeys(body.document_ids) if i not in known]
            if missing:
                raise NotFound(f"unknown document ids: {', '.join(missing[:20])}")
        flt = RetrievalFilter(**body.model_dump(exclude={"question"}))
        has_filter = any(v is not None for v in flt.model_dump().values())
        answer: Answer = await run_in_threadpool(container.qa.ask, body.question, flt if has_filter else None)
        return answer

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        """Readiness: store reachable and the chat model answering (with the embedded server's state)."""
        checks: dict[str, str] = {}
        try:
            checks["store"] = f"ok ({container.index.count()} passages)"
        except Exception as exc:  # report, don't crash the probe
            checks["store"] = f"error: {exc}"
        status = container.llm_status()
        if container.llm_ready():
            checks["llm"] = "ok"
        elif container.llm_error:
            checks["llm"] = f"error: {container.llm_error}"
        elif status is None:
            checks["llm"] = "starting"
        elif status.state == "failed":
            checks["llm"] = f"error: {status.error}"
        else:
            checks["llm"] = status.state
        body: dict[str, object] = {"status": "ready", "checks": checks}
        if status is not None:
            body["llm"] = status.as_dict()
        if all(v.startswith("ok") for v in checks.values()):
            return JSONResponse(body)
        body["status"] = "not_ready"
        message = "; ".join(f"{k}: {v}" for k, v in checks.items() if not v.startswith("ok"))
        body["error"] = {"code": "not_ready", "message": message}
        retry = None if checks["llm"].startswith("error") else {"Retry-After": "5"}
        return JSONResponse(body, status_code=503, headers=retry)

    return router
