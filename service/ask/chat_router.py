"""The OpenAI-compatible routes: `POST /v1/chat/completions` and `GET /v1/models` (see `service.ask.chat`)."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service.ask.chat import ALL_COLLECTIONS, ChatRequest, Conversation, chunks, completion
from service.ask.router import qa_service
from service.ask.service import QAService
from service.domain.access import Principal
from service.domain.errors import Abandoned, NotFound
from service.domain.models import Answer, RetrievalFilter
from service.http.auth import Reader
from service.http.deps import AppLimits, Repo, bounded_body, json_body_doc, parse_json, provide, require_collection
from service.http.streaming import STREAM_HEADERS, Emit, stream_work

MAX_CHAT_BYTES = 1_000_000
conversation = provide("conversation", Conversation)
Talk = Annotated[Conversation, Depends(conversation)]
QA = Annotated[QAService, Depends(qa_service)]
router = APIRouter(tags=["openai-compatible"])


class _Done(BaseModel):
    question: str
    answer: Answer


def _scope(model: str, caller: Principal, known: Sequence[str]) -> RetrievalFilter | None:
    """`dossier`: every collection the key may see; any other name: that collection, which must exist."""
    if model == ALL_COLLECTIONS:
        visible = caller.visible(None)
        return None if visible is None else RetrievalFilter(collections=visible)
    require_collection(caller, model)
    if model not in known:
        raise NotFound(f"model {model!r} is neither {ALL_COLLECTIONS!r} nor a collection; GET /v1/models lists them")
    return RetrievalFilter(collections=[model])


@router.get("/models")
async def list_models(repo: Repo, caller: Reader) -> dict[str, Any]:
    """The models a chat client may name: `dossier` (every collection the key sees) and each collection."""
    names = [c for c in await run_in_threadpool(repo.collections) if caller.can_see(c) and c != ALL_COLLECTIONS]
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "dossier"} for n in [ALL_COLLECTIONS, *names]]
    return {"object": "list", "data": data}


@router.post("/chat/completions", openapi_extra=json_body_doc(ChatRequest))
async def chat_completions(
    request: Request, qa: QA, talk: Talk, repo: Repo, caller: Reader, limits: AppLimits
) -> Response:
    """An OpenAI chat completion over a collection: `[n]` markers in the text, citations in `citations`."""
    body = parse_json(ChatRequest, await bounded_body(request, MAX_CHAT_BYTES))
    flt = _scope(body.model, caller, await run_in_threadpool(repo.collections))
    qa.checked(body.messages[-1].text)  # a refusal is a plain 4xx, before any stream begins

    def answer(emit: Emit | None = None, stop: threading.Event | None = None) -> _Done:
        question = talk.question(body.messages)
        if stop is not None and stop.is_set():
            raise Abandoned("the client closed the stream")
        # Streamed: the model call streams too, so a client that goes away stops it (its events go nowhere).
        quiet = None if emit is None else (lambda _name, _payload: None)
        done = _Done(question=question, answer=qa.ask(question, flt, quiet, stop, body.min_confidence))
        if emit is not None:
            emit("done", done)
        return done

    if not body.stream:
        stop = threading.Event()  # set past the budget: an ask still waiting for the model gives up
        done = await limits.model.run(limits.budget_s, partial(answer, None, stop), stop=stop)
        return JSONResponse(completion(body.model, done.question, done.answer))
    events = stream_work(limits.model, limits.budget_s, answer)

    async def sse() -> AsyncIterator[bytes]:
        async for item in events:
            if item is None:
                yield format_sse_event(comment="keep-alive")
            elif isinstance(item[1], _Done):
                for c in chunks(body.model, item[1].question, item[1].answer):
                    yield format_sse_event(data_str=json.dumps(c, ensure_ascii=False))
                yield format_sse_event(data_str="[DONE]")
            else:  # an error: the OpenAI clients raise on a chunk with `error`
                error = item[1].model_dump(mode="json")
                kind = "server_error" if error.get("status", 500) >= 500 else "invalid_request_error"
                oai = {"message": error.get("detail"), "type": kind, "code": error.get("code"), "param": None}
                yield format_sse_event(data_str=json.dumps({"error": oai}))

    return EventSourceResponse(sse(), headers=STREAM_HEADERS)
