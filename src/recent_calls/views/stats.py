"""Extensions for the web page: calls per hour or day with their figures, and filter values.

POST /customerexperience/{version}/recentCallStats/{region}
POST /customerexperience/{version}/recentCallFacets/{region}

Both check what recentCallData checks, in the same order: route, credentials, body, fields,
tenant binding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..breakdowns import Breakdown, parse_grouping, request_properties
from ..dialects import Dialect
from ..errors import FieldError, InvalidRequest
from ..query import CallQuery, RecentCallsRequest, parse_request
from ..schemas import PROBLEM_RESPONSES
from ..stats import (
    INTERVALS,
    MAX_BUCKETS,
    MAX_FACET_VALUES,
    TooManyBuckets,
    bucket_edges,
    build_stats,
    facets_sql,
    span_sql,
)
from ..storage.base import Credential, Run, Storage
from ..windows import zone
from .common import (
    ClockDep,
    SettingsDep,
    StorageDep,
    bind_tenant,
    check_route,
    credential_of,
    read_json,
)

router = APIRouter(tags=["Web page extensions"])

_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": [], "Token": []}]


class StatsBucket(BaseModel):
    """One local hour or day: [start, end) in epoch ms, and the matching calls in it."""

    start: int = Field(description="First instant of the bucket, epoch ms.")
    end: int = Field(description="First instant after the bucket, epoch ms.")
    label: str = Field(
        examples=["2024-03-10T03:00:00-04:00"],
        description="The bucket's start, ISO-8601 local time with its UTC offset.",
    )
    calls: int
    avgHandleTime: float | None = Field(
        description="Mean agent handling time (ms) of calls an agent handled; null if none."
    )
    avgWaitTime: float | None = Field(description="Mean wait time (ms) of all calls; null if none.")
    abandoned: int = Field(description="Calls with an abandon time above 0.")
    transfers: int = Field(description="Sum of the calls' transfer counts.")


class StatsTotals(BaseModel):
    """The same figures over the whole window."""

    calls: int
    avgHandleTime: float | None
    avgWaitTime: float | None
    abandoned: int
    abandonRate: float | None = Field(description="abandoned / calls, 0..1; null if no calls.")
    transfers: int


class StatsResponse(BaseModel):
    """Matching calls bucketed by local hour or day over the request's whole window."""

    tenantId: str
    interval: str = Field(examples=["hour"])
    timezone: str
    start: int | None = Field(description="Start of the first bucket, epoch ms; null if none.")
    end: int | None = Field(description="End of the last bucket, epoch ms; null if none.")
    buckets: list[StatsBucket]
    totals: StatsTotals
    breakdown: Breakdown | None = Field(
        None, description="The calls by queue, agent, group or channel; null without groupBy."
    )


class FacetsRequest(BaseModel):
    tenantId: str = Field(min_length=1)


class FacetsResponse(BaseModel):
    """Distinct values the tenant's calls hold, sorted, at most 1000 of each."""

    tenantId: str
    agents: list[str]
    queues: list[str]
    groups: list[str]
    channels: list[str]


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


_INTERVAL_EXPECTED = "expected " + " or ".join(f'"{name}"' for name in INTERVALS)


def _interval_of(body: Any) -> tuple[str, list[FieldError]]:
    value = body.get("interval") if isinstance(body, dict) else None
    if value is None or value == "":
        return "day", []
    if isinstance(value, str) and value in INTERVALS:
        return value, []
    shown = repr(value[:40]) if isinstance(value, str) else f"a {type(value).__name__}"
    return "day", [FieldError("interval", f"{shown} is not a known value; {_INTERVAL_EXPECTED}")]


def parse_stats_request(body: Any, now_ms: int) -> tuple[CallQuery, str]:
    """The query and interval of a stats body; InvalidRequest naming every bad field at once."""
    interval, errors = _interval_of(body)
    if isinstance(body, dict):
        # Paging does not apply to a whole-window aggregate: absent page and rows are fine.
        body = {"page": 1, "rows": 1, **body}
        body["page"] = body["page"] if body["page"] is not None else 1
        body["rows"] = body["rows"] if body["rows"] is not None else 1
    try:
        query = parse_request(body, now_ms)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.errors + errors) from None
    if errors:
        raise InvalidRequest(errors)
    return query, interval


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _label(epoch_ms: int, timezone: str) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, zone(timezone)).isoformat()


def _aggregate(
    run: Run, tenant_id: str, query: CallQuery, interval: str, dialect: Dialect
) -> StatsResponse:
    window = query.window
    start, end = window.start_ms, window.end_ms
    if start is None or end is None:
        sql, params = span_sql(tenant_id, dialect)
        first, last = run(sql, params)[0]
        start = first if start is None else start
        end = (last + 1 if last is not None else None) if end is None else end
    buckets: list[StatsBucket] = []
    sums = [0, 0, 0.0, 0.0, 0, 0]
    if start is not None and end is not None and end > start:
        try:
            edges = bucket_edges(start, end, interval, zone(query.timezone))
        except TooManyBuckets as exc:
            raise InvalidRequest(
                [
                    FieldError(
                        "interval",
                        f"{exc}, more than {MAX_BUCKETS} buckets; choose day or a shorter window",
                    )
                ]
            ) from None
        compiled = build_stats(tenant_id, query, edges, dialect)
        found = {int(row[0]): row[1:] for row in run(compiled.sql, compiled.params)}
        for number in range(1, len(edges)):
            calls, handled, handling, wait, abandoned, transfers = found.get(
                number, (0, 0, 0.0, 0.0, 0, 0)
            )
            figures = (
                int(calls),
                int(handled),
                float(handling),
                float(wait),
                int(abandoned),
                int(transfers),
            )
            sums = [a + b for a, b in zip(sums, figures, strict=True)]
            buckets.append(
                StatsBucket(
                    start=edges[number - 1],
                    end=edges[number],
                    label=_label(edges[number - 1], query.timezone),
                    calls=figures[0],
                    avgHandleTime=_mean(figures[2], figures[1]),
                    avgWaitTime=_mean(figures[3], figures[0]),
                    abandoned=figures[4],
                    transfers=figures[5],
                )
            )
    calls, handled, handling, wait, abandoned, transfers = sums
    totals = StatsTotals(
        calls=int(calls),
        avgHandleTime=_mean(handling, int(handled)),
        avgWaitTime=_mean(wait, int(calls)),
        abandoned=int(abandoned),
        abandonRate=round(abandoned / calls, 4) if calls else None,
        transfers=int(transfers),
    )
    return StatsResponse(
        tenantId=tenant_id,
        interval=interval,
        timezone=query.timezone,
        start=buckets[0].start if buckets else None,
        end=buckets[-1].end if buckets else None,
        buckets=buckets,
        totals=totals,
    )


def answer_stats(
    storage: Storage, credential: Credential, region: str, query: CallQuery, interval: str
) -> StatsResponse:
    tenant = bind_tenant(storage, credential, query.tenant_id, region)
    return compute_stats(storage, tenant.tenant_id, query, interval)


def compute_stats(
    storage: Storage, tenant_id: str, query: CallQuery, interval: str
) -> StatsResponse:
    """The tenant's buckets and totals for a validated query, on any storage engine."""
    # One snapshot: the span of allhistory and the buckets agree even while calls arrive.
    return storage._read(lambda run: _aggregate(run, tenant_id, query, interval, storage.dialect))


@router.post(
    "/customerexperience/{version}/recentCallStats/{region}",
    summary="Calls per local hour or day over the request's window, with averages and totals",
    response_model=StatsResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _stats_request_schema()}},
        },
        "security": _SECURITY,
    },
)
async def recent_call_stats(
    request: Request,
    version: str,
    region: str,
    storage: StorageDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> StatsResponse:
    check_route(version, region)
    credential = await credential_of(request, storage)
    body = await read_json(request, settings.max_body_bytes)
    grouping, grouping_errors = parse_grouping(body)
    try:
        query, interval = parse_stats_request(body, clock())
    except InvalidRequest as exc:
        raise InvalidRequest(exc.errors + grouping_errors) from None
    if grouping_errors:
        raise InvalidRequest(grouping_errors)
    answer = await run_in_threadpool(answer_stats, storage, credential, region, query, interval)
    if grouping is not None:  # the tenant is bound: answer_stats checked it
        answer.breakdown = await run_in_threadpool(
            storage.breakdown, answer.tenantId, query, grouping.by, grouping.service_level_s
        )
    return answer


def _tenant_of(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "expected a JSON object")])
    tenant_id = body.get("tenantId")
    if not isinstance(tenant_id, str) or not tenant_id.strip() or len(tenant_id) > 256:
        raise InvalidRequest([FieldError("tenantId", "is required; expected a non-empty string")])
    return tenant_id


def answer_facets(
    storage: Storage, credential: Credential, region: str, tenant_id: str
) -> FacetsResponse:
    tenant = bind_tenant(storage, credential, tenant_id, region)
    return read_facets(storage, tenant.tenant_id)


def read_facets(storage: Storage, tenant_id: str) -> FacetsResponse:
    """The distinct agents, queues, groups and channels of the tenant's calls."""
    statements = facets_sql(tenant_id, storage.dialect)

    def read(run: Run) -> dict[str, list[str]]:
        return {
            facet: [str(row[0]) for row in run(sql, params)]
            for facet, (sql, params) in statements.items()
        }

    values = storage._read(read)
    return FacetsResponse(tenantId=tenant_id, **values)


@router.post(
    "/customerexperience/{version}/recentCallFacets/{region}",
    summary=f"Agents, queues, groups and channels the tenant's calls hold (at most "
    f"{MAX_FACET_VALUES} each)",
    response_model=FacetsResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FacetsRequest.model_json_schema()}},
        },
        "security": _SECURITY,
    },
)
async def recent_call_facets(
    request: Request, version: str, region: str, storage: StorageDep, settings: SettingsDep
) -> FacetsResponse:
    check_route(version, region)
    credential = await credential_of(request, storage)
    body = await read_json(request, settings.max_body_bytes)
    tenant_id = _tenant_of(body)
    return await run_in_threadpool(answer_facets, storage, credential, region, tenant_id)
