"""HTTP routes for fact extraction and the cross-document fact query."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from service.domain.errors import InvalidInput
from service.domain.facts import Corroboration, Evidence, Extraction, Fact, FactSchema
from service.domain.ports import ExtractionStore
from service.domain.summaries import Job
from service.extract.corroboration import CorroborationService
from service.extract.jobs import ExtractionJobs
from service.extract.schemas import REGISTRY, REPORT_FACTS, custom_schema, get_schema
from service.extract.service import ExtractService
from service.http.auth import Reader, Writer
from service.http.deps import AppLimits, AppSettings, Queue, Repo, provide, require_collection, require_document
from service.http.pages import Cursor, Limit, Page, page_of

log = logging.getLogger(__name__)


class ExtractIn(BaseModel):
    """Which schema to extract: a registered name, or a custom schema; `refresh` ignores the cache."""

    schema_name: str | None = Field(default=None, alias="schema", description="Registered schema id")
    custom_schema: dict[str, Any] | None = None
    refresh: bool = False

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class FactOut(BaseModel):
    """One fact with the document it came from; with `corroboration=true`, who else states it."""

    document_id: str
    document_title: str
    kind: str
    fields: dict[str, Any]
    evidence: list[Evidence]
    corroboration: Corroboration | None = Field(
        default=None, description="Asked for with `corroboration=true`; null for entities (not statements)"
    )


extract_service = provide("extract", ExtractService)
extraction_jobs = provide("extract_jobs", ExtractionJobs)
Jobs = Annotated[ExtractionJobs, Depends(extraction_jobs)]
extraction_store = provide("extractions", ExtractionStore)  # type: ignore[type-abstract]

Extractor = Annotated[ExtractService, Depends(extract_service)]
Corroborations = Annotated[CorroborationService, Depends(provide("corroboration", CorroborationService))]
Store = Annotated[ExtractionStore, Depends(extraction_store)]
router = APIRouter(tags=["extraction"])


@router.post(
    "/documents/{document_id}/extractions",
    response_model=Extraction,
    responses={202: {"model": Job, "description": "A long report: extraction runs as a job; poll `Location`."}},
)
async def create_extraction(
    document_id: str,
    extract: Extractor,
    jobs: Jobs,
    repo: Repo,
    caller: Writer,
    settings: AppSettings,
    limits: AppLimits,
    queue: Queue,
    body: ExtractIn | None = None,
) -> JSONResponse:
    """Extract grounded facts: the stored result unless `refresh`; a long report as a job (202 + Location)."""
    body = body or ExtractIn()

    def decide() -> JSONResponse | tuple[str, FactSchema]:  # database work: in a worker thread, not the loop
        if body.custom_schema is not None and body.schema_name is not None:
            raise InvalidInput("give either `schema` or `custom_schema`, not both")
        doc = require_document(repo, document_id, caller)
        schema = custom_schema(body.custom_schema) if body.custom_schema is not None else get_schema(body.schema_name)
        if not body.refresh and (stored := extract.stored(doc.id, schema)) is not None:
            return JSONResponse(stored.model_dump(mode="json"))
        if len(doc.text) > settings.sync_extract_max_chars:
            job, start = jobs.create(doc, schema)
            if start:
                queue.submit(job.id, job.kind)
            location = f"/v1/jobs/{job.id}"
            return JSONResponse(status_code=202, content=job.model_dump(mode="json"), headers={"Location": location})
        return doc.id, schema

    decided = await run_in_threadpool(decide)
    if isinstance(decided, JSONResponse):
        return decided
    doc_id, schema = decided
    result = await limits.model.run(limits.budget_s, partial(extract.extract, doc_id, schema, refresh=body.refresh))
    return JSONResponse(result.model_dump(mode="json"))


@router.get("/documents/{document_id}/extractions", response_model=Page[Extraction])
def list_extractions(
    document_id: str, store: Store, repo: Repo, caller: Reader, limit: Limit = 20, cursor: Cursor = None
) -> Page[Extraction]:
    """Stored extractions of a document, newest first, a page at a time."""
    require_document(repo, document_id, caller)
    return page_of(store.for_document(document_id), limit, cursor)


@router.get("/schemas")
def list_schemas(caller: Reader) -> dict[str, Any]:
    """Registered extraction schemas."""
    return {k: v.model_dump() for k, v in REGISTRY.items()}


@router.get("/facts", response_model=Page[FactOut])
async def facts(
    extract: Extractor,
    corroborations: Corroborations,
    caller: Reader,
    limits: AppLimits,
    entity: str | None = Query(default=None, description="Name or alias, case-insensitive substring"),
    type: str | None = Query(
        default=None,
        description="Fact kind (entities, events, claims, quantities) or an entity type (person, country, ...)",
    ),
    schema: str = Query(default=REPORT_FACTS.id),
    collection: str | None = Query(default=None, description="Only this collection (default: all the key sees)"),
    corroboration: bool = Query(
        default=False,
        description="Add each claim's, quantity's and event's corroboration: other reports' sentences the model "
        "judges to state it, and the count of independent sources (model calls: at most "
        "DOSSIER_DISAGREEMENT_MAX_PAIRS new pairs a request, judgements kept)",
    ),
    corroboration_min_confidence: float | None = Query(
        default=None,
        ge=0.0,
        le=1.0,
        description="A sentence corroborates when its calibrated P(agree) reaches this (default: "
        "DOSSIER_CORROBORATION_MIN_CONFIDENCE, else the agree calibrator's threshold)",
    ),
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[FactOut]:
    """Facts across all stored extractions, filtered by entity and type, a page at a time; with
    `corroboration=true`, each statement's corroboration among the reports of `collection`, else all the key sees
    (runs in the model queue)."""
    get_schema(schema)
    if collection is not None:
        require_collection(caller, collection)
    visible = caller.visible([collection] if collection else None)

    def found() -> tuple[Page[FactOut], list[tuple[str, Fact]]]:
        rows = list(extract.query(schema, entity=entity, type=type, collections=visible))
        page = page_of(rows, limit, cursor)
        out = [
            FactOut(document_id=doc_id, document_title=title, kind=kind, fields=f.fields, evidence=f.evidence)
            for doc_id, title, kind, f in page.items
        ]
        return Page[FactOut](items=out, next_cursor=page.next_cursor), [(d, f) for d, _, _, f in page.items]

    if not corroboration:
        return (await run_in_threadpool(found))[0]

    def corroborated() -> Page[FactOut]:
        page, facts = found()
        for item, c in zip(
            page.items, corroborations.for_facts(facts, visible, corroboration_min_confidence), strict=True
        ):
            item.corroboration = c
        return page

    return await limits.model.run(limits.budget_s, corroborated)
