"""HTTP routes for entities across reports: `GET /v1/entities` and `GET /v1/entities/{id}`."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from service.domain.access import COLLECTION_RE
from service.domain.facts import Entity, EntitySummary
from service.extract.entities import EntityService
from service.http.auth import Reader
from service.http.deps import AppLimits, provide, require_collection
from service.http.pages import Cursor, Limit, Page, page_of

entity_service = provide("entities", EntityService)
Entities = Annotated[EntityService, Depends(entity_service)]
Collection = Annotated[
    str | None,
    Query(description="Only this collection's reports (default: all the key sees)", pattern=COLLECTION_RE.pattern),
]
MinConfidence = Annotated[
    float | None,
    Query(
        ge=0.0,
        le=1.0,
        description="Join two reports' entities when their calibrated P(same entity) reaches this "
        "(default: DOSSIER_ENTITY_MIN_CONFIDENCE, else the calibrator's threshold)",
    ),
]
router = APIRouter(tags=["entities"])


@router.get("/entities", response_model=Page[EntitySummary])
async def list_entities(
    entities: Entities,
    caller: Reader,
    limits: AppLimits,
    name: Annotated[str | None, Query(description="Name or alias, case-insensitive substring", max_length=200)] = None,
    type: Annotated[str | None, Query(description="Entity type (person, country, company, ...)", max_length=64)] = None,
    collection: Collection = None,
    min_confidence: MinConfidence = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[EntitySummary]:
    """Entities resolved across the reports' stored extractions, most reported first, a page at a time."""
    if collection is not None:
        require_collection(caller, collection)
    visible = caller.visible([collection] if collection else None)
    find = partial(entities.find, visible, name=name, type=type, threshold=min_confidence)
    found = await limits.ingest.run(limits.budget_s, find)  # CPU work (embedding, scoring): bounded like ingest
    summaries = [EntitySummary.model_validate(e.model_dump(exclude={"mentions"})) for e in found]
    return page_of(summaries, limit, cursor)


@router.get("/entities/{entity_id}", response_model=Entity)
async def get_entity(
    entity_id: Annotated[str, Path(max_length=64)],
    entities: Entities,
    caller: Reader,
    limits: AppLimits,
    collection: Collection = None,
    min_confidence: MinConfidence = None,
) -> Entity:
    """One entity: canonical name, aliases, first and last report date, and every mention with its verbatim span.
    An id names one set of linked reports as resolved with the same `collection` and `min_confidence`."""
    if collection is not None:
        require_collection(caller, collection)
    visible = caller.visible([collection] if collection else None)
    return await limits.ingest.run(limits.budget_s, partial(entities.get, entity_id, visible, min_confidence))
