"""POST /customerexperience/{version}/recentCallDirectory/{region}: the tenant's display names.

Checks what recentCallData checks, in the same order: route, credentials, body, fields, tenant
binding. Ids without an entry are absent; the page shows the id for them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
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
from recent_calls.query.directory import by_kind
from recent_calls.query.request import parse_tenant_body
from recent_calls.storage.base import Credential

router = APIRouter(tags=["Web page extensions"])

# The scope a credential needs here (fields.SCOPES); every route declares it as `x-scope`.
SCOPE = "read"


class DirectoryRequest(BaseModel):
    tenantId: str = Field(min_length=1, max_length=256)


class Named(BaseModel):
    id: str
    name: str


class DirectoryResponse(BaseModel):
    """Display names of the tenant's agents, queues, agent groups and channels (dialed
    numbers), each list by name (case-insensitive), then id."""

    tenantId: str
    agents: list[Named]
    queues: list[Named]
    groups: list[Named]
    channels: list[Named]


def answer_directory(
    parts: Parts, credential: Credential, region: str, tenant_id: str
) -> DirectoryResponse:
    tenant = bind_tenant(parts.auth, credential, tenant_id, region, SCOPE)
    entries = parts.storage.directory(tenant.tenant_id)
    return DirectoryResponse.model_validate({"tenantId": tenant.tenant_id, **by_kind(entries)})


@router.post(
    "/customerexperience/{version}/recentCallDirectory/{region}",
    summary="Display names of the tenant's agents, queues, agent groups and channels",
    response_model=DirectoryResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(SCOPE, DirectoryRequest.model_json_schema()),
)
async def recent_call_directory(
    request: Request, version: str, region: str, parts: PartsDep
) -> DirectoryResponse:
    check_route(version, region)
    credential = await credential_of(request, parts)
    body = await read_json(request, parts.settings.max_body_bytes)
    tenant_id = parse_tenant_body(body)
    return await run_in_threadpool(answer_directory, parts, credential, region, tenant_id)
