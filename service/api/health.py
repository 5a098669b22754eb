"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.api.deps import container_of
from service.container import Container

ContainerDep = Annotated[Container, Depends(container_of)]
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(container: ContainerDep) -> JSONResponse:
    """Readiness: store reachable and the chat model answering (with the embedded server's state)."""
    checks: dict[str, str] = {}
    try:
        checks["store"] = f"ok ({container.index.count()} passages)"
    except Exception as exc:  # report, don't crash the probe
        checks["store"] = f"error: {exc}"
    status = container.llm.status()
    if container.llm.ready():
        checks["llm"] = "ok"
    elif container.llm.error:
        checks["llm"] = f"error: {container.llm.error}"
    elif status is None:
        checks["llm"] = "starting"
    elif status.state == "failed":
        checks["llm"] = f"error: {status.error}"
    else:
        checks["llm"] = status.state
    body: dict[str, object] = {"status": "ready", "checks": checks}
    if status is not None:
        body["llm"] = status.as_dict()
    if all(v.startswith("ok") for v in checks.values()):
        return JSONResponse(body)
    body["status"] = "not_ready"
    message = "; ".join(f"{k}: {v}" for k, v in checks.items() if not v.startswith("ok"))
    body["error"] = {"code": "not_ready", "message": message}
    retry = None if checks["llm"].startswith("error") else {"Retry-After": "5"}
    return JSONResponse(body, status_code=503, headers=retry)
