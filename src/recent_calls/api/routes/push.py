"""POST /customerexperience/{version}/calls/{region}: live push of calls as they end."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from recent_calls.api.routes.common import (
    Parts,
    PartsDep,
    api_route,
    bind_tenant,
    check_route,
    credential_of,
    read_json,
)
from recent_calls.api.schemas import PROBLEM_RESPONSES, IngestRequest, IngestResult
from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.ingest.bulk import parse_calls, store_calls
from recent_calls.storage.base import Credential

router = APIRouter(tags=["Ingestion"])

# The scope a credential needs here (fields.SCOPES); every route declares it as `x-scope`.
SCOPE = "push"

MAX_BATCH = 10_000


def _fields(body: Any) -> tuple[str, list[Any]]:
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "expected a JSON object")])
    errors = []
    tenant_id, calls = body.get("tenantId"), body.get("calls")
    if not isinstance(tenant_id, str) or not tenant_id.strip():
        errors.append(FieldError("tenantId", "is required; expected a non-empty string"))
    if not isinstance(calls, list):
        errors.append(FieldError("calls", "is required; expected an array of calls"))
    elif len(calls) > MAX_BATCH:
        errors.append(FieldError("calls", f"{len(calls)} calls given, at most {MAX_BATCH}"))
    if errors:
        raise InvalidRequest(errors)
    assert isinstance(tenant_id, str) and isinstance(calls, list)
    return tenant_id, calls


def _store(
    parts: Parts, credential: Credential, region: str, tenant_id: str, calls: list[Any]
) -> IngestResult:
    # SPEC order: the calls' field errors (400) before the tenant binding (403).
    rows = parse_calls(calls)
    tenant = bind_tenant(parts.auth, credential, tenant_id, region, SCOPE)
    report = store_calls(parts.storage, tenant.tenant_id, rows, len(calls))
    return IngestResult(
        received=report.received, inserted=report.inserted, replaced=report.replaced
    )


@router.post(
    "/customerexperience/{version}/calls/{region}",
    summary="Push ended calls into the tenant's history (atomic per batch, idempotent by callId)",
    response_model=IngestResult,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(SCOPE, IngestRequest.model_json_schema()),
)
async def ingest(request: Request, version: str, region: str, parts: PartsDep) -> IngestResult:
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_ingest_bytes)
    tenant_id, calls = _fields(body)
    result = await run_in_threadpool(_store, parts, credential, region, tenant_id, calls)
    metrics = request.app.state.metrics
    metrics.pushed.inc(result.inserted + result.replaced)
    metrics.push_batches.inc()
    return result
