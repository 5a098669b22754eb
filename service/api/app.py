"""FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import __version__
from service.api import errors, health
from service.ask import router as ask
from service.config import Settings
from service.container import Container
from service.extract import router as extract
from service.ingest import router as ingest
from service.summarize import router as summarize

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, start_llm: bool = True, container: Container | None = None) -> FastAPI:
    """Build the API for `settings` (over a prebuilt `container` if given); the embedded model starts at startup."""
    container = container or Container(settings)
    runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        fixed = container.ingest.reconcile()
        if fixed.orphans or fixed.reindexed:
            log.warning("reconciled the store: %d orphan documents' passages removed, %d documents re-indexed",
                        fixed.orphans, fixed.reindexed)  # fmt: skip
        container.embedder.embed_query("warm-up")  # load the embedding model before the first request
        if start_llm:
            container.llm.start_in_background()
        for job_id in container.jobs.unfinished():  # a restarted replica finishes what it left behind
            runner.submit(container.batches.run, job_id)
        try:
            yield
        finally:
            runner.shutdown(wait=False, cancel_futures=True)
            container.close()

    app = FastAPI(
        title="Dossier",
        version=__version__,
        lifespan=lifespan,
        description="Answers for reports with verified citations.",
    )
    app.state.container = container
    app.state.runner = runner
    errors.install(app)
    for module in (ingest, ask, extract, summarize, health):
        app.include_router(module.router)
    return app
