"""FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from service import __version__
from service.access import router as access
from service.api import health
from service.ask import chat_router as chat
from service.ask import router as ask
from service.config import Settings
from service.container import Container
from service.domain.errors import ConfigurationError
from service.extract import disagreements_router as disagreements
from service.extract import entities_router as entities
from service.extract import router as extract
from service.http import errors
from service.http.limits import Limits
from service.http.security import CrossSiteGuard, SecurityHeaders
from service.ingest import router as ingest
from service.summarize import router as summarize
from service.web import router as web

log = logging.getLogger(__name__)
API_PREFIX = "/v1"


def create_app(settings: Settings, *, start_llm: bool = True, container: Container | None = None) -> FastAPI:
    """Build the API for `settings` (over a prebuilt `container` if given); the embedded model starts at startup."""
    container = container or Container(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        refusal = container.access.startup_problem()
        if refusal:
            raise ConfigurationError(refusal)
        if container.access.keyless():
            log.warning(
                "no API keys: serving keyless on loopback (%s); anyone on this machine may use Dossier. "
                "`dossier keys create --role admin` turns keys on.",
                settings.host,
            )
        fixed = container.ingest.reconcile()
        if fixed.orphans or fixed.reindexed:
            log.warning(
                "reconciled the store: %d orphan documents' passages removed, %d documents re-indexed",
                fixed.orphans,
                fixed.reindexed,
            )
        container.pair_judge  # noqa: B018 (its prompt and calibrators: a missing or invalid one stops the start)
        container.embedder.embed_query("warm-up")  # load the embedding model before the first request
        if start_llm:
            container.llm.start_in_background()
        if not container.queue.distributed:  # a restarted replica finishes what it left behind (else: workers do)
            container.resume_jobs()
        try:
            yield
        finally:
            container.close()

    app = FastAPIOffline(  # the docs page is served from packaged assets, so it works offline
        title="Dossier",
        version=__version__,
        lifespan=lifespan,
        description="Answers for reports with verified citations.",
        responses=errors.problem_responses(),
    )
    app.state.container = container
    app.state.limits = Limits(
        rate=settings.rate_limit,
        rate_storage=settings.rate_limit_storage,
        model_depth=settings.model_queue_depth,
        ingest_depth=settings.ingest_queue_depth,
        budget_s=settings.request_budget_s,
    )
    errors.install(app)
    for module in (ingest, ask, chat, extract, entities, disagreements, summarize, access, web):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.include_router(web.page)
    app.mount(web.PAGE_PREFIX, web.static_files(), name="page")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.cors_origins)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Location", "Retry-After"],
        )
    app.add_middleware(SecurityHeaders)  # outermost: every response carries the headers, refusals included
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema, with the problem-details body every error response refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        problem = errors.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
    return app.openapi_schema
