"""GET /healthz: 200 once the database is open and answering."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..errors import ServiceUnavailable
from .common import PartsDep

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Readiness: the database answers")
async def healthz(parts: PartsDep) -> dict[str, object]:
    storage = parts.storage
    try:
        version = await run_in_threadpool(storage.schema_version)
    except Exception:  # whatever the engine raised, the answer is the same
        raise ServiceUnavailable("The database is not answering.", retry_after=5) from None
    return {"status": "ok", "engine": storage.engine, "schemaVersion": version}
