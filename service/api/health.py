"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.container import Container
from service.http.deps import container_of
from service.http.errors import redact

log = logging.getLogger(__name__)
PUBLIC_LLM_FIELDS = ("state", "restarts", "last_exit", "error")  # no pid, no server log line
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
        container.index.count()  # reachable (the count itself is nobody's business without a key)
        checks["store"] = "ok"
    except Exception as exc:  # report, don't crash the probe (the details go to the log, not the body)
        log.warning("readiness: store check failed: %s", exc)
        checks["store"] = f"error: {type(exc).__name__}"
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
    checks = {k: redact(v) for k, v in checks.items()}
    body: dict[str, object] = {"status": "ready", "checks": checks}
    if status is not None:
        public = {k: v for k, v in status.as_dict().items() if k in PUBLIC_LLM_FIELDS}
        body["llm"] = {k: redact(v) if isinstance(v, str) else v for k, v in public.items()}
    if all(v.startswith("ok") for v in checks.values()):
        return JSONResponse(body)
    body["status"] = "not_ready"
    message = "; ".join(f"{k}: {v}" for k, v in checks.items() if not v.startswith("ok"))
    body["error"] = {"code": "not_ready", "message": message}
    retry = None if checks["llm"].startswith("error") else {"Retry-After": "5"}
    return JSONResponse(body, status_code=503, headers=retry)
