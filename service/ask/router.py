"""The /ask route: one verified answer, or its steps as Server-Sent Events."""

from __future__ import annotations

import threading
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.ask.service import QAService
from service.domain.access import Principal
from service.domain.errors import NotFound
from service.domain.models import Answer, RetrievalFilter
from service.domain.ports import DocumentRepository
from service.http.auth import Reader
from service.http.deps import AppLimits, Repo, json_body_doc, parse_json, provide, require_collection
from service.http.schemas import AskIn
from service.http.streaming import event_stream, stream_work

qa_service = provide("qa", QAService)

QA = Annotated[QAService, Depends(qa_service)]
router = APIRouter(tags=["ask"])

STREAM_DOC: dict[str, Any] = {
    "description": "With `stream: true`: Server-Sent Events `passages`, `sentence` (each as soon as it is complete "
    "and verified), `retracted`, `rejected`, then `answer` (the same object as without `stream`); `error` "
    "(a problem body) if the work fails after the stream began.",
    "content": {
        "text/event-stream": {
            "itemSchema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {
                        "type": "string",
                        "enum": ["passages", "sentence", "retracted", "rejected", "answer", "error"],
                    },
                    "data": {"type": "string", "contentMediaType": "application/json"},
                },
            }
        }
    },
}


async def retrieval_filter(body: AskIn, repo: DocumentRepository, caller: Principal) -> RetrievalFilter | None:
    """The filter of `body` within what `caller` may see (404 for unknown document ids), None if it sets nothing."""
    for name in body.collections or []:
        require_collection(caller, name)
    visible = caller.visible(body.collections)  # no passage of another collection is retrieved or shown
    if body.document_ids:
        known = await run_in_threadpool(repo.ids, visible)
        missing = [i for i in dict.fromkeys(body.document_ids) if i not in known]
        if missing:
            raise NotFound(f"unknown document ids: {', '.join(missing[:20])}")
    flt = RetrievalFilter(
        **body.model_dump(exclude={"question", "collections", "stream", "min_confidence"}), collections=visible
    )
    return flt if any(v is not None for v in flt.model_dump().values()) else None


@router.post("/ask", response_model=Answer, openapi_extra=json_body_doc(AskIn), responses={200: STREAM_DOC})
async def ask(request: Request, qa: QA, repo: Repo, caller: Reader, limits: AppLimits) -> Answer | Response:
    """Answer a question with verified citations, or abstain; `stream: true` sends the steps as SSE."""
    # JSON whatever the content type says: `curl -d '{"question": ...}'` sends form encoding.
    body = parse_json(AskIn, await request.body())
    flt = await retrieval_filter(body, repo, caller)
    if body.stream:
        question = qa.checked(body.question)  # a refusal is a plain 422, not an event
        work = partial(qa.ask, question, flt, min_confidence=body.min_confidence)
        return event_stream(stream_work(limits.model, limits.budget_s, work))
    stop = threading.Event()  # set past the budget: an ask still waiting for the model gives up
    answer: Answer = await limits.model.run(
        limits.budget_s, partial(qa.ask, body.question, flt, stop=stop, min_confidence=body.min_confidence), stop=stop
    )
    return answer
