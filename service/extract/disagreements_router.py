"""HTTP route for disagreements across reports: `GET /v1/disagreements`."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.domain.access import COLLECTION_RE
from service.domain.facts import Disagreement
from service.extract.disagreements import DisagreementService
from service.http.auth import Reader
from service.http.deps import AppLimits, provide, require_collection
from service.http.pages import Cursor, Limit, Page, page_of

disagreement_service = provide("disagreements", DisagreementService)
Disagreements = Annotated[DisagreementService, Depends(disagreement_service)]
router = APIRouter(tags=["disagreements"])


@router.get("/disagreements", response_model=Page[Disagreement])
async def list_disagreements(
    disagreements: Disagreements,
    caller: Reader,
    limits: AppLimits,
    collection: Annotated[
        str | None,
        Query(description="Only this collection's reports (default: all the key sees)", pattern=COLLECTION_RE.pattern),
    ] = None,
    min_confidence: Annotated[
        float | None,
        Query(
            ge=0.0,
            le=1.0,
            description="List a pair when its calibrated P(contradict) reaches this (default: "
            "DOSSIER_DISAGREEMENT_MIN_CONFIDENCE, else the claim calibrator's threshold)",
        ),
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Disagreement]:
    """Pairs of statements from different reports (stored claims, quantities and events, each cited to its verbatim
    sentence) that the model judges incompatible, most confident first, a page at a time. The first request over
    new reports asks the model (two one-token calls a pair, at most `DOSSIER_DISAGREEMENT_MAX_PAIRS` new pairs,
    nearest first; the next request goes on); judgements are kept, so later requests are quick."""
    if collection is not None:
        require_collection(caller, collection)
    visible = caller.visible([collection] if collection else None)
    find = partial(disagreements.find, visible, min_confidence)
    return page_of(await limits.model.run(limits.budget_s, find), limit, cursor)
