"""The /ask route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from service.api.auth import Reader
from service.api.deps import AppLimits, Repo, json_body_doc, parse_json, provide, require_collection
from service.api.schemas import AskIn
from service.ask.service import QAService
from service.domain.errors import NotFound
from service.domain.models import Answer, RetrievalFilter

qa_service = provide("qa", QAService)

QA = Annotated[QAService, Depends(qa_service)]
router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=Answer, openapi_extra=json_body_doc(AskIn))
async def ask(request: Request, qa: QA, repo: Repo, caller: Reader, limits: AppLimits) -> Answer:
    """Answer a question with verified citations, or abstain."""
    # JSON whatever the content type says: `curl -d '{"question": ...}'` sends form encoding.
    body = parse_json(AskIn, await request.body())
    for name in body.collections or []:
        require_collection(caller, name)
    visible = caller.visible(body.collections)  # no passage of another collection is retrieved or shown
    if body.document_ids:
        known = await run_in_threadpool(repo.ids, visible)
        missing = [i for i in dict.fromkeys(body.document_ids) if i not in known]
        if missing:
            raise NotFound(f"unknown document ids: {', '.join(missing[:20])}")
    flt = RetrievalFilter(**body.model_dump(exclude={"question", "collections"}), collections=visible)
    has_filter = any(v is not None for v in flt.model_dump().values())
    answer: Answer = await limits.model.run(limits.budget_s, qa.ask, body.question, flt if has_filter else None)
    return answer
