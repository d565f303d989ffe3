"""Operations: /healthz, /readyz and /metrics.

- `/healthz` (as before): 200 once the database is open and answers a query.
- `/readyz`: 200 when this process can serve the API now: the database answers, its schema is at
  the version this release migrates to, and the calls table can be read; else 503. Point a load
  balancer's readiness probe here, and a liveness probe at `/healthz`.
- `/metrics`: the Prometheus text format (api/metrics.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from recent_calls.api.metrics import CONTENT_TYPE, Metrics
from recent_calls.api.routes.common import PartsDep
from recent_calls.errors import ServiceUnavailable
from recent_calls.storage.migrations import MIGRATIONS

router = APIRouter(tags=["Operations"])

LATEST_SCHEMA = max(step.version for step in MIGRATIONS)


@router.get("/healthz", summary="Health: the database is open and answers")
async def healthz(parts: PartsDep) -> dict[str, object]:
    storage = parts.storage
    try:
        version = await run_in_threadpool(storage.schema_version)
    except Exception:  # whatever the engine raised, the answer is the same
        raise ServiceUnavailable("The database is not answering.", retry_after=5) from None
    return {"status": "ok", "engine": storage.engine, "schemaVersion": version}


@router.get("/readyz", summary="Readiness: the database answers, migrated, its calls readable")
async def readyz(parts: PartsDep) -> dict[str, object]:
    storage = parts.storage

    def check() -> int:
        version = storage.schema_version()
        storage.count_calls("")  # a read of the calls table, which every query needs
        return version

    try:
        version = await run_in_threadpool(check)
    except Exception:  # whatever the engine raised, the answer is the same
        raise ServiceUnavailable("The database is not answering.", retry_after=5) from None
    if version < LATEST_SCHEMA:
        raise ServiceUnavailable(
            f"The database schema is at version {version}, not {LATEST_SCHEMA}.", retry_after=5
        )
    return {"status": "ready", "engine": storage.engine, "schemaVersion": version}


@router.get(
    "/metrics",
    summary="The server's metrics in the Prometheus text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
