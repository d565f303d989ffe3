"""/admin/v1/...: tenants, credentials, imports and demo data on the running server.

Enabled only when the server has an admin token (`recent-calls serve` makes one per run and
leaves it in the database's control file for the CLI).
"""

from __future__ import annotations

import hmac
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..admin import LocalAdmin
from ..errors import NotFound, Unauthorized
from .common import ClockDep, SettingsDep, StorageDep

router = APIRouter(prefix="/admin/v1", tags=["Administration"])


def _require_admin(request: Request, settings: SettingsDep) -> None:
    if not settings.admin_token:
        raise NotFound("There is nothing at this address.")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {settings.admin_token}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("The admin API needs the server's admin token.")


def _admin(storage: StorageDep, clock: ClockDep) -> LocalAdmin:
    return LocalAdmin(storage, clock)


AdminDep = Annotated[LocalAdmin, Depends(_admin)]
guarded = [Depends(_require_admin)]


class NewTenant(BaseModel):
    tenantId: str
    region: str
    label: str = ""


class NewCredential(BaseModel):
    label: str = ""


class DemoRequest(BaseModel):
    calls: int = Field(20_000, ge=0, le=5_000_000)
    seed: int = 7
    replace: bool = True


def _issued(credential: Any) -> dict[str, str]:
    return {**credential.as_json(), "keyId": credential.key_id}


@router.post("/tenants", status_code=201, dependencies=guarded)
async def create_tenant(body: NewTenant, admin: AdminDep) -> dict[str, str]:
    issued = await run_in_threadpool(admin.create_tenant, body.tenantId, body.region, body.label)
    return _issued(issued)


@router.post("/tenants/{tenant_id}/credentials", status_code=201, dependencies=guarded)
async def create_credential(tenant_id: str, body: NewCredential, admin: AdminDep) -> dict[str, str]:
    return _issued(await run_in_threadpool(admin.create_credential, tenant_id, body.label))


@router.get("/tenants/{tenant_id}/credentials", dependencies=guarded)
async def list_credentials(tenant_id: str, admin: AdminDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(admin.list_credentials, tenant_id)


@router.delete("/tenants/{tenant_id}/credentials/{key_id}", status_code=204, dependencies=guarded)
async def revoke_credential(tenant_id: str, key_id: str, admin: AdminDep) -> Response:
    await run_in_threadpool(admin.revoke_credential, tenant_id, key_id)
    return Response(status_code=204)


@router.post("/tenants/{tenant_id}/import", dependencies=guarded)
async def import_calls(
    tenant_id: str,
    request: Request,
    admin: AdminDep,
    timezone: str = "GMT",
    skipInvalid: bool = False,
) -> dict[str, Any]:
    # Spool the upload (to disk past 64 MiB) so memory stays flat; then import it in one go.
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(
            admin.import_file, tenant_id, spool, timezone=timezone, skip_invalid=skipInvalid
        )
    return report.as_json()


@router.post("/demo", dependencies=guarded)
async def seed_demo(body: DemoRequest, admin: AdminDep) -> list[dict[str, str]]:
    issued = await run_in_threadpool(
        lambda: admin.seed_demo(body.calls, body.seed, replace=body.replace)
    )
    return [_issued(item) for item in issued]


@router.post("/compact", dependencies=guarded)
async def compact(admin: AdminDep) -> dict[str, bool]:
    return {"compacted": await run_in_threadpool(admin.compact)}
