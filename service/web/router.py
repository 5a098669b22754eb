"""The reading page at `/` (a static bundle from `service/web/static`, no build step, no CDN) and the one API
route only it needs: the newest eval report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from service.domain.errors import NotFound
from service.http.auth import Reader
from service.http.deps import AppSettings

STATIC = Path(__file__).parent / "static"
PAGE_PREFIX = "/ui"
REPORT_FIELDS = (
    "run",
    "created",
    "subset",
    "suites",
    "model",
    "settings_hash",
    "prompts",
    "git",
    "metrics",
    "counts",
    "splits",
    "wall_s",
)

page = APIRouter(include_in_schema=False)
router = APIRouter(tags=["evals"])


def static_files() -> StaticFiles:
    """The page's scripts, styles and icons, mounted at `/ui`."""
    return StaticFiles(directory=STATIC)


@page.get("/")
async def index() -> FileResponse:
    """The reading page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


def _newest(reports: Path) -> Path:
    runs = sorted((p for p in reports.glob("*/results.json")), key=lambda p: p.parent.name) if reports.is_dir() else []
    if not runs:
        raise NotFound(f"no eval report yet under {reports.name}/; run `make eval` or `dossier eval`")
    return runs[-1]


@router.get("/evals/latest")
async def latest_eval(settings: AppSettings, caller: Reader) -> dict[str, Any]:
    """The newest eval run's metrics (without per-item rows)."""

    def read() -> dict[str, Any]:
        data: dict[str, Any] = json.loads(_newest(settings.eval_reports_dir).read_text(encoding="utf-8"))
        return {k: data.get(k) for k in REPORT_FIELDS}

    return await run_in_threadpool(read)


@router.get("/evals/latest/chart.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def latest_eval_chart(settings: AppSettings, caller: Reader) -> Response:
    """The newest eval run's chart."""
    chart = (await run_in_threadpool(_newest, settings.eval_reports_dir)).parent / "chart.png"
    if not chart.is_file():
        raise NotFound("the newest eval run has no chart")
    return Response(await run_in_threadpool(chart.read_bytes), media_type="image/png")
