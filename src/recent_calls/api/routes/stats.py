"""Extensions for the web page: calls per hour or day with their figures, and filter values.

POST /customerexperience/{version}/recentCallStats/{region}
POST /customerexperience/{version}/recentCallFacets/{region}

Both check what recentCallData checks, in the same order: route, credentials, body, fields,
tenant binding.
"""

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
from recent_calls.api.schemas import PROBLEM_RESPONSES
from recent_calls.query.breakdowns import Grouping, request_properties
from recent_calls.query.buckets import (
    INTERVALS,
    MAX_BUCKETS,
    TooManyBuckets,
    check_bucket_count,
    parse_stats_request,
    too_many_buckets,
)
from recent_calls.query.facets import MAX_FACET_VALUES
from recent_calls.query.request import CallQuery, RecentCallsRequest, parse_tenant_body
from recent_calls.query.responses import FacetsRequest, FacetsResponse, StatsResponse
from recent_calls.storage.base import Credential

router = APIRouter(tags=["Web page extensions"])

# The scope a credential needs here (fields.SCOPES); every route declares it as `x-scope`.
SCOPE = "read"


def _stats_request_schema() -> dict[str, Any]:
    schema = RecentCallsRequest.model_json_schema(mode="validation")
    schema["title"] = "RecentCallStatsRequest"
    schema["description"] = (
        "The recentCallData body (page, rows and the sort fields are accepted and ignored), "
        "plus the bucket interval."
    )
    schema["properties"]["interval"] = {
        "type": "string",
        "enum": list(INTERVALS),
        "default": "day",
        "description": f"Bucket size, in the request's timezone; at most {MAX_BUCKETS} buckets.",
    }
    schema["properties"].update(request_properties())
    schema["required"] = [name for name in schema.get("required", []) if name == "tenantId"]
    return schema


def answer_stats(
    parts: Parts,
    credential: Credential,
    region: str,
    query: CallQuery,
    interval: str,
    grouping: Grouping | None,
) -> StatsResponse:
    tenant = bind_tenant(parts.auth, credential, query.request.tenantId, region, SCOPE)
    try:
        return parts.storage.stats(tenant, query, interval, grouping)
    except TooManyBuckets as exc:  # allhistory: only the tenant's calls tell its span
        raise too_many_buckets(exc) from None


@router.post(
    "/customerexperience/{version}/recentCallStats/{region}",
    summary="Calls per local hour or day over the request's window, with averages and totals",
    response_model=StatsResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(SCOPE, _stats_request_schema()),
)
async def recent_call_stats(
    request: Request, version: str, region: str, parts: PartsDep
) -> StatsResponse:
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_body_bytes)
    query, interval, grouping = parse_stats_request(body, parts.clock())
    check_bucket_count(query, interval)  # a field error, so before the tenant binding
    return await run_in_threadpool(
        answer_stats, parts, credential, region, query, interval, grouping
    )


def answer_facets(
    parts: Parts, credential: Credential, region: str, tenant_id: str
) -> FacetsResponse:
    return parts.storage.facets(bind_tenant(parts.auth, credential, tenant_id, region, SCOPE))


@router.post(
    "/customerexperience/{version}/recentCallFacets/{region}",
    summary=f"Agents, queues, groups and channels the tenant's calls hold (at most "
    f"{MAX_FACET_VALUES} each)",
    response_model=FacetsResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(SCOPE, FacetsRequest.model_json_schema()),
)
async def recent_call_facets(
    request: Request, version: str, region: str, parts: PartsDep
) -> FacetsResponse:
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_body_bytes)
    tenant_id = parse_tenant_body(body)
    return await run_in_threadpool(answer_facets, parts, credential, region, tenant_id)
