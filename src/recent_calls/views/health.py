"""GET /healthz: 200 once the database is open and answering."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..errors import ServiceUnavailable
from .common import StorageDep

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Readiness: the database answers")
async def healthz(storage: StorageDep) -> dict[str, object]:
    try:
        version = await run_in_threadpool(storage.schema_version)
    except Exception:
        raise ServiceUnavailable("The database is not answering.", retry_after=5) from None
    return {"status": "ok", "engine": storage.engine, "schemaVersion": version}
