"""POST /customerexperience/{version}/recentCallExport/{region}: matching calls as a CSV download.

Checks what recentCallData checks, in the same order: route, credentials, body, fields, tenant
binding. The body is streamed: storage is read in chunks of CHUNK_ROWS calls (each chunk its own
read), so memory stays flat however many calls match; there is no row cap.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from recent_calls.api.render import LocalDates, render_items
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
from recent_calls.fields import CSV_COLUMNS, csv_row
from recent_calls.query.request import MAX_ROWS, CallQuery, RecentCallsRequest, parse_request
from recent_calls.query.windows import zone
from recent_calls.storage.base import Credential, SearchResult, Storage, Tenant
from recent_calls.storage.columns import CallColumns

router = APIRouter(tags=["Web page extensions"])

# The scope a credential needs here (fields.SCOPES); every route declares it as `x-scope`.
SCOPE = "read"

CHUNK_ROWS = MAX_ROWS
MEDIA_TYPE = "text/csv; charset=utf-8"
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+", re.ASCII)


def _request_schema() -> dict[str, Any]:
    schema = RecentCallsRequest.model_json_schema(mode="validation")
    schema["title"] = "RecentCallExportRequest"
    schema["description"] = (
        "The recentCallData body; page and rows are ignored (every matching call is sent), "
        "sortColumn and sortOrder order the rows."
    )
    schema["required"] = [name for name in schema.get("required", []) if name == "tenantId"]
    return schema


def parse_export_request(body: Any, now_ms: int) -> CallQuery:
    """The query of an export body: recentCallData's, reading the first chunk of calls."""
    if isinstance(body, dict):
        body = {**body, "page": 1, "rows": CHUNK_ROWS}
    return parse_request(body, now_ms)


def _chunk(query: CallQuery, number: int) -> CallQuery:
    request = query.request.model_copy(update={"page": number, "rows": CHUNK_ROWS})
    return dataclasses.replace(query, request=request)


def filename(tenant: Tenant, query: CallQuery, now_ms: int) -> str:
    """`<tenant>_<window>_<YYYY-MM-DD>.csv`: the window as asked (a duration, or START-END in
    epoch ms), and today's date in the request's timezone."""
    request = query.request
    if request.duration is not None:
        window = request.duration
    else:
        start, end = query.window.start_ms, query.window.end_ms
        window = f"{start}-{end - 1}" if start is not None and end is not None else "window"
    today = datetime.fromtimestamp(now_ms / 1000, zone(query.timezone)).date().isoformat()
    name = _UNSAFE_IN_FILENAME.sub("_", tenant.tenant_id)[:100] or "tenant"
    return f"{name}_{window}_{today}.csv"


def first_chunk(
    parts: Parts, credential: Credential, region: str, query: CallQuery
) -> tuple[Tenant, SearchResult]:
    """The bound tenant and the first chunk of its calls."""
    tenant = bind_tenant(parts.auth, credential, query.request.tenantId, region, SCOPE)
    return tenant, parts.storage.search(tenant, query)


def csv_chunks(
    storage: Storage, tenant: Tenant, query: CallQuery, first: SearchResult
) -> Iterator[bytes]:
    """The CSV file: the header, then one piece per chunk of calls, read as it is needed."""
    text = io.StringIO(newline="")
    rows = csv.writer(text)
    rows.writerow(CSV_COLUMNS)
    dates = LocalDates(zone(query.timezone))
    result, number, previous = first, 1, set[str]()
    while True:
        # A call arriving during the export pushes the others down: skip the repeat.
        fresh = [row for row in result.rows if row.call_id not in previous]
        items = render_items(CallColumns.of_rows(fresh), tenant.tenant_id, dates)
        for row, item in zip(fresh, items, strict=True):
            rows.writerow(csv_row({**msgspec.structs.asdict(item), "startTime": row.start_ms}))
        yield text.getvalue().encode()
        text.seek(0)
        text.truncate()
        if len(result.rows) < CHUNK_ROWS:
            return
        previous = {row.call_id for row in result.rows}
        number += 1
        result = storage.search(tenant, _chunk(query, number))


@router.post(
    "/customerexperience/{version}/recentCallExport/{region}",
    summary="Every matching call as a CSV download, streamed (the columns of recent-calls export)",
    responses={
        **PROBLEM_RESPONSES,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "CSV with a header line; X-Total-Count holds the number of calls.",
        },
    },
    response_class=StreamingResponse,
    openapi_extra=api_route(SCOPE, _request_schema()),
)
async def recent_call_export(
    request: Request,
    version: str,
    region: str,
    parts: PartsDep,
) -> StreamingResponse:
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_body_bytes)
    now_ms = parts.clock()
    query = parse_export_request(body, now_ms)
    tenant, first = await run_in_threadpool(first_chunk, parts, credential, region, query)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename(tenant, query, now_ms)}"',
        "X-Total-Count": str(first.hits),
        "Cache-Control": "no-store",
    }
    # A plain iterator: Starlette runs each step (each chunk's read) in the thread pool.
    return StreamingResponse(
        csv_chunks(parts.storage, tenant, query, first), media_type=MEDIA_TYPE, headers=headers
    )
