"""POST /customerexperience/{version}/recentCallDirectory/{region}: the tenant's display names.

Checks what recentCallData checks, in the same order: route, credentials, body, fields, tenant
binding. Ids without an entry are absent; the page shows the id for them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..directory import by_kind
from ..errors import FieldError, InvalidRequest
from ..schemas import PROBLEM_RESPONSES
from ..storage.base import Credential, Storage
from .common import SettingsDep, StorageDep, bind_tenant, check_route, credential_of, read_json

router = APIRouter(tags=["Web page extensions"])


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


def tenant_of(body: Any) -> str:
    """The body's tenantId, or a 400 naming it."""
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "expected a JSON object")])
    tenant_id = body.get("tenantId")
    if not isinstance(tenant_id, str) or not tenant_id.strip() or len(tenant_id) > 256:
        raise InvalidRequest([FieldError("tenantId", "is required; expected a non-empty string")])
    return tenant_id


def answer_directory(
    storage: Storage, credential: Credential, region: str, tenant_id: str
) -> DirectoryResponse:
    tenant = bind_tenant(storage, credential, tenant_id, region)
    entries = storage.directory(tenant.tenant_id)
    return DirectoryResponse.model_validate({"tenantId": tenant.tenant_id, **by_kind(entries)})


@router.post(
    "/customerexperience/{version}/recentCallDirectory/{region}",
    summary="Display names of the tenant's agents, queues, agent groups and channels",
    response_model=DirectoryResponse,
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DirectoryRequest.model_json_schema()}},
        },
        "security": [{"ApiKey": [], "Token": []}],
    },
)
async def recent_call_directory(
    request: Request, version: str, region: str, storage: StorageDep, settings: SettingsDep
) -> DirectoryResponse:
    check_route(version, region)
    credential = await credential_of(request, storage)
    body = await read_json(request, settings.max_body_bytes)
    tenant_id = tenant_of(body)
    return await run_in_threadpool(answer_directory, storage, credential, region, tenant_id)
