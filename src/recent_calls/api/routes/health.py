"""Operations: /healthz, /readyz and /metrics.

- `/healthz` (as before): 200 once the database is open and answers a query.
- `/readyz`: 200 when this process can serve the API now: the database answers, its schema is at
  the version this release migrates to, the calls table can be read and a write would be taken
  (not a read-only server); else 503, saying why (and the log says more). Point a load
  balancer's readiness probe here, and a liveness probe at `/healthz`.
- `/metrics`: the Prometheus text format (api/metrics.py).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from recent_calls.api.metrics import CONTENT_TYPE, Metrics
from recent_calls.api.problems import as_problem
from recent_calls.api.routes.common import Parts, PartsDep
from recent_calls.circuit import CLOSED, Breaker
from recent_calls.errors import ServiceUnavailable, StorageError
from recent_calls.storage.migrations import MIGRATIONS

log = logging.getLogger("recent_calls")

router = APIRouter(tags=["Operations"])

LATEST_SCHEMA = max(step.version for step in MIGRATIONS)


def _not_ready(check: str, exc: Exception) -> ServiceUnavailable:
    """The 503 of a failed check, after logging why it failed (the client reads less)."""
    problem = as_problem(exc) if isinstance(exc, StorageError) else None
    if problem is None:
        log.error("%s failed: %s", check, exc, exc_info=exc)
        return ServiceUnavailable("The database is not answering.", retry_after=5)
    log.warning("%s failed: %s", check, exc)
    retry = problem.headers.get("Retry-After", "5")
    return ServiceUnavailable(problem.detail, retry_after=int(retry))


@router.get("/healthz", summary="Health: the database is open and answers")
async def healthz(parts: PartsDep) -> dict[str, object]:
    storage = parts.storage
    try:
        version = await run_in_threadpool(storage.schema_version)
    except Exception as exc:  # whatever the engine raised, the answer is a 503
        raise _not_ready("health check", exc) from None
    return {"status": "ok", "engine": storage.engine, "schemaVersion": version}


@router.get("/readyz", summary="Readiness: the database answers, migrated, readable, writable")
async def readyz(parts: PartsDep) -> dict[str, object]:
    storage = parts.storage
    try:
        # Also the probe that closes an open circuit when no other request comes.
        version = await run_in_threadpool(storage.check_ready)
    except Exception as exc:  # whatever the engine raised, the answer is a 503
        error = _not_ready("readiness check", exc)
        breaker = storage.breaker
        if breaker is not None and breaker.state != CLOSED:
            wait = breaker.retry_after()
            error = ServiceUnavailable(
                f"{error.detail} The database is known to be down (circuit open): requests "
                f"fail at once until a probe finds it back, the next in {wait} s.",
                retry_after=wait,
            )
        raise error from None
    if version < LATEST_SCHEMA:
        raise ServiceUnavailable(
            f"The database schema is at version {version}, not {LATEST_SCHEMA}.", retry_after=5
        )
    return {
        "status": "ready",
        "engine": storage.engine,
        "schemaVersion": version,
        "circuits": _circuits(parts),
    }


def _circuits(parts: Parts) -> dict[str, str]:
    """The state of each dependency's circuit breaker: closed, open or half-open."""
    circuits = {}
    if parts.storage.breaker is not None:
        circuits["database"] = parts.storage.breaker.state
    breaker = getattr(parts.limiter, "breaker", None)
    if isinstance(breaker, Breaker):
        circuits["redis"] = breaker.state
    return circuits


@router.get(
    "/metrics",
    summary="The server's metrics in the Prometheus text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
