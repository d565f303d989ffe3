"""POST /customerexperience/{version}/recentCallData/{region}: the Recent Calls API."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from recent_calls.api.render import item_parts, render_response
from recent_calls.api.routes.common import (
    Parts,
    PartsDep,
    api_route,
    bind_tenant,
    check_route,
    credential_of,
    read_json,
)
from recent_calls.api.schemas import PROBLEM_RESPONSES
from recent_calls.query.request import CallQuery, RecentCallsRequest, parse_request
from recent_calls.query.responses import RecentCallsResponse
from recent_calls.storage.base import Credential

router = APIRouter(tags=["Recent Calls"])

# The scope a credential needs here (fields.SCOPES); every route declares it as `x-scope`.
SCOPE = "read"

_REQUEST_SCHEMA = RecentCallsRequest.model_json_schema(mode="validation")


def answer(parts: Parts, credential: Credential, region: str, query: CallQuery) -> bytes:
    """The response body for a validated query by an authenticated caller (one snapshot)."""
    tenant = bind_tenant(parts.auth, credential, query.request.tenantId, region, SCOPE)
    # The page is rendered a part at a time as the engine hands it over (Storage.search).
    each = item_parts(tenant.tenant_id, query.timezone)
    return render_response(query, tenant, parts.storage.search(tenant, query, each))


@router.post(
    "/customerexperience/{version}/recentCallData/{region}",
    summary="Recent calls of one tenant, filtered and paged",
    response_model=RecentCallsResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(SCOPE, _REQUEST_SCHEMA),
)
async def recent_call_data(
    request: Request, version: str, region: str, parts: PartsDep
) -> Response:
    """Checks run in SPEC.md's order: route, credentials, body, fields, tenant binding."""
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_body_bytes)
    query = parse_request(body, parts.clock())
    content = await run_in_threadpool(answer, parts, credential, region, query)
    return Response(content, media_type="application/json")
