"""The /documents routes: ingest (JSON or multipart), list, read, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from service.core.segment import segment
from service.domain.access import DEFAULT_COLLECTION
from service.domain.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from service.domain.models import DocumentMeta
from service.http.auth import Reader, Writer
from service.http.deps import AppLimits, AppSettings, Repo, parse_json, provide, require_collection, require_document
from service.http.pages import Cursor, Limit, Page, keyset_after, keyset_page
from service.http.schemas import DocumentDetail, DocumentOut, IngestOut, TextDocumentIn
from service.ingest.service import IngestResult, IngestService

UPLOAD_FIELDS = {"file", "title", "source", "url", "published", "key", "collection"}


ingest_service = provide("ingest", IngestService)

Ingest = Annotated[IngestService, Depends(ingest_service)]
router = APIRouter(tags=["documents"])

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
                        "collection": {"type": "string", "default": DEFAULT_COLLECTION},
                    },
                }
            },
        },
    }
}


def _meta_from_form(form: dict[str, Any]) -> DocumentMeta:
    try:
        published = form.get("published")
        return DocumentMeta(
            title=form.get("title") or None,
            source=form.get("source") or None,
            url=form.get("url") or None,
            published=dt.date.fromisoformat(published) if published else None,
        )
    except ValueError as exc:
        raise InvalidInput(f"published: expected YYYY-MM-DD ({exc})") from exc


def _ingest_response(result: IngestResult) -> JSONResponse:
    body = IngestOut(
        **DocumentOut.of(result.document).model_dump(), status=result.status, replaced_id=result.replaced_id
    )
    return JSONResponse(status_code=200 if result.status == "unchanged" else 201, content=body.model_dump(mode="json"))


@router.post(
    "/documents",
    status_code=201,
    response_model=IngestOut,
    openapi_extra=_UPLOAD_DOC,
    responses={200: {"description": "unchanged (same content already stored)"}},
)
async def create_document(
    request: Request, ingest: Ingest, settings: AppSettings, caller: Writer, limits: AppLimits
) -> JSONResponse:
    """Ingest a report: JSON `{text, title, ...}` or a multipart file upload."""
    max_bytes = settings.max_upload_bytes
    ctype = request.headers.get("content-type", "")
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError as exc:
        raise InvalidInput("Content-Length is not a number") from exc
    if length > max_bytes * 2 + 65536:
        raise PayloadTooLarge(f"request is {length} bytes; the limit is {max_bytes}")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("multipart upload needs a `file` field")
        unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
        if unknown:
            raise InvalidInput(
                f"unknown form fields: {', '.join(unknown)}; expected {', '.join(sorted(UPLOAD_FIELDS))}"
            )
        data = await upload.read(max_bytes + 1)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        collection = require_collection(caller, fields.get("collection") or DEFAULT_COLLECTION)
        result = await limits.ingest.run(
            None,
            ingest.ingest_bytes,
            upload.filename or "upload.txt",
            data,
            _meta_from_form(fields),
            fields.get("key") or None,
            collection,
        )
        return _ingest_response(result)
    if not ctype.startswith("application/json"):
        raise UnsupportedMediaType(f"content type {ctype or '(none)'!r}; send application/json or multipart/form-data")
    body = parse_json(TextDocumentIn, await request.body())
    meta = DocumentMeta(**body.model_dump(include={"title", "source", "url", "published"}))
    collection = require_collection(caller, body.collection)
    return _ingest_response(await limits.ingest.run(None, ingest.ingest_text, body.text, meta, body.key, collection))


@router.get("/documents", response_model=Page[DocumentOut])
def list_documents(
    repo: Repo,
    caller: Reader,
    collection: Annotated[str | None, Query(description="Only this collection (default: all the key sees)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Only titles or sources containing this")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DocumentOut]:
    """List stored reports, newest first, a page at a time."""
    if collection is not None:
        require_collection(caller, collection)
    visible = caller.visible([collection] if collection else None)
    rows = repo.list(visible, limit=limit + 1, after=keyset_after(cursor), search=q)
    page = keyset_page(rows, limit, lambda d: (d.created_at, d.id))
    return Page[DocumentOut](items=[DocumentOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document(document_id: str, repo: Repo, caller: Reader) -> DocumentDetail:
    """One report with its verbatim text and sentence offsets."""
    doc = require_document(repo, document_id, caller)
    return DocumentDetail(**DocumentOut.of(doc).model_dump(), text=doc.text, sentences=segment(doc.text))


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: str, ingest: Ingest, repo: Repo, caller: Writer) -> Response:
    """Delete a report and everything derived from it; it is never retrieved again."""
    require_document(repo, document_id, caller)
    if not ingest.delete(document_id):
        raise NotFound(f"document {document_id!r} does not exist")
    return Response(status_code=204)
