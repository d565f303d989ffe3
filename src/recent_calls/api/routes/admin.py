"""/admin/v1/...: tenants, credentials, imports and demo data on the running server.

Enabled only when the server has an admin token (`recent-calls serve` makes one per run and
leaves it in the database's control file for the CLI).
"""

from __future__ import annotations

import hmac
import tempfile
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from recent_calls.admin.base import ACTOR_HEADER, SANE_ACTOR, id_errors
from recent_calls.admin.local import LocalAdmin
from recent_calls.api.routes.common import PartsDep, body_chunks, declares_more_than, read_json
from recent_calls.errors import FieldError, InvalidRequest, NotFound, PayloadTooLarge, Unauthorized
from recent_calls.fields import SCOPES
from recent_calls.ingest.sync import ID_PAGE
from recent_calls.query.directory import export_order, parse_csv, parse_json, to_csv
from recent_calls.query.windows import MAX_EPOCH_MS

router = APIRouter(prefix="/admin/v1", tags=["Administration"])


def _require_admin(request: Request, parts: PartsDep) -> None:
    settings = parts.settings
    if not settings.admin_token:
        raise NotFound("There is nothing at this address.")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {settings.admin_token}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("The admin API needs the server's admin token.")


def _admin(request: Request, parts: PartsDep) -> LocalAdmin:
    # The audit trail names who asked: the CLI says so in a header; else the caller's address.
    said = request.headers.get(ACTOR_HEADER, "")
    client = request.client.host if request.client else "unknown"
    actor = f"admin-api:{said}" if SANE_ACTOR.fullmatch(said) else f"admin-api@{client}"
    return LocalAdmin(
        parts.storage, parts.clock, actor=actor, max_line_bytes=parts.settings.max_line_bytes
    )


def _check_ids(request: Request) -> None:
    # Ids reach storage and the audit trail as given: refuse what no tenant or key can be
    # named, before any lookup, so that no id can stand for another.
    tenant_id = request.path_params.get("tenant_id", request.query_params.get("tenantId"))
    errors = id_errors(tenant_id, request.path_params.get("key_id"))
    if errors:
        raise InvalidRequest(errors)


AdminDep = Annotated[LocalAdmin, Depends(_admin)]
# The token first: a caller without it learns nothing, not even which ids are well formed.
guarded = [Depends(_require_admin), Depends(_check_ids)]


MAX_LABEL = 200
MAX_ADMIN_BODY = 64 * 1024


class _Body(BaseModel):
    # Strict: a number is not a string, a string is not a number; unknown fields are refused.
    model_config = ConfigDict(strict=True, extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refused here on both engines, alike.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain U+0000 (NUL)")
        return value


class NewTenant(_Body):
    tenantId: str = Field(max_length=128)
    region: str = Field(max_length=8)
    label: str = Field("", max_length=MAX_LABEL)
    timezone: str | None = Field(
        None, max_length=64, description="IANA zone the console shows times in by default"
    )


class TenantChange(_Body):
    timezone: str | None = Field(
        None, max_length=64, description='IANA zone, or "" to clear it; absent leaves it'
    )


class NewCredential(_Body):
    label: str = Field("", max_length=MAX_LABEL)
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES), min_length=1, max_length=8)


class DemoRequest(_Body):
    calls: int = Field(20_000, ge=0, le=5_000_000)
    seed: int = Field(7, ge=0, le=2**63 - 1)
    replace: bool = True


Model = TypeVar("Model", bound=_Body)


async def _body(request: Request, model: type[Model]) -> Model:
    """The JSON body as `model`, read only after the token check (a dependency) has passed;
    a 400 naming every bad field. A null is an absent field, as everywhere in the API."""
    body = await read_json(request, MAX_ADMIN_BODY)
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "expected a JSON object")])
    try:
        return model.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        errors = []
        for item in exc.errors():
            field = ".".join(str(part) for part in item["loc"]) or "body"
            reason = "is required" if item["type"] == "missing" else str(item["msg"])
            errors.append(FieldError(field, reason))
        raise InvalidRequest(errors) from None


def _documented(model: type[_Body]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def _issued(credential: Any) -> dict[str, Any]:
    return {**credential.as_json(), "keyId": credential.key_id}


@router.post(
    "/tenants", status_code=201, dependencies=guarded, openapi_extra=_documented(NewTenant)
)
async def create_tenant(request: Request, admin: AdminDep) -> dict[str, Any]:
    body = await _body(request, NewTenant)
    issued = await run_in_threadpool(
        admin.create_tenant, body.tenantId, body.region, body.label, body.timezone
    )
    return _issued(issued)


@router.patch(
    "/tenants/{tenant_id}",
    status_code=204,
    dependencies=guarded,
    openapi_extra=_documented(TenantChange),
)
async def change_tenant(tenant_id: str, request: Request, admin: AdminDep) -> Response:
    body = await _body(request, TenantChange)
    await run_in_threadpool(lambda: admin.set_tenant(tenant_id, timezone=body.timezone))
    return Response(status_code=204)


@router.post(
    "/tenants/{tenant_id}/credentials",
    status_code=201,
    dependencies=guarded,
    openapi_extra=_documented(NewCredential),
)
async def create_credential(tenant_id: str, request: Request, admin: AdminDep) -> dict[str, Any]:
    body = await _body(request, NewCredential)
    issued = await run_in_threadpool(
        admin.create_credential, tenant_id, body.label, tuple(body.scopes)
    )
    return _issued(issued)


@router.get("/tenants/{tenant_id}/credentials", dependencies=guarded)
async def list_credentials(tenant_id: str, admin: AdminDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(admin.list_credentials, tenant_id)


@router.delete("/tenants/{tenant_id}/credentials/{key_id}", status_code=204, dependencies=guarded)
async def revoke_credential(tenant_id: str, key_id: str, admin: AdminDep) -> Response:
    await run_in_threadpool(admin.revoke_credential, tenant_id, key_id)
    return Response(status_code=204)


class Rotation(_Body):
    graceMs: int = Field(24 * 3600 * 1000, ge=0, le=365 * 24 * 3600 * 1000)
    label: str = Field("", max_length=MAX_LABEL)


@router.post(
    "/tenants/{tenant_id}/credentials/{key_id}/rotate",
    status_code=201,
    dependencies=guarded,
    openapi_extra=_documented(Rotation),
)
async def rotate_credential(
    tenant_id: str, key_id: str, request: Request, admin: AdminDep
) -> dict[str, Any]:
    body = await _body(request, Rotation)
    issued = await run_in_threadpool(
        admin.rotate_credential, tenant_id, key_id, body.graceMs, body.label
    )
    return _issued(issued)


@router.get("/audit", dependencies=guarded)
async def audit_log(
    admin: AdminDep, tenantId: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    return await run_in_threadpool(admin.audit_log, tenantId, max(1, min(limit, 10_000)))


@router.post("/tenants/{tenant_id}/import", dependencies=guarded)
async def import_calls(
    tenant_id: str,
    request: Request,
    admin: AdminDep,
    parts: PartsDep,
    timezone: str = "GMT",
    skipInvalid: bool = False,
) -> dict[str, Any]:
    # Spool the upload (to disk past 64 MiB) so memory stays flat; then import it in one go.
    # Bounded, so that one upload cannot fill the disk under the spool.
    limit = parts.settings.max_import_bytes
    too_large = PayloadTooLarge(
        f"The upload is larger than {limit} bytes, the most one import through this server "
        "takes (max_import_bytes); split the file, or run `recent-calls import` where the "
        "database is."
    )
    if declares_more_than(request, limit):
        raise too_large
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        size = 0
        async for chunk in body_chunks(request):
            size += len(chunk)
            if size > limit:
                raise too_large
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(
            admin.import_file, tenant_id, spool, timezone=timezone, skip_invalid=skipInvalid
        )
    stored = report.inserted + report.replaced
    if stored:
        request.app.state.metrics.imported.inc(stored)
        request.app.state.metrics.import_batches.inc()
    return report.as_json()


class SyncWatermark(_Body):
    source: str = Field(min_length=1, max_length=2048)
    watermarkMs: int = Field(ge=0, le=MAX_EPOCH_MS)


@router.get("/tenants/{tenant_id}/sync-watermark", dependencies=guarded)
async def get_sync_watermark(tenant_id: str, source: str, admin: AdminDep) -> dict[str, Any]:
    if "\x00" in source:  # as the PUT's body: PostgreSQL refuses text with a NUL (a 500)
        raise InvalidRequest([FieldError("source", "must not contain U+0000 (NUL)")])
    found = await run_in_threadpool(admin.get_sync_watermark, tenant_id, source)
    return {"source": source, "watermarkMs": found}


@router.put(
    "/tenants/{tenant_id}/sync-watermark",
    status_code=204,
    dependencies=guarded,
    openapi_extra=_documented(SyncWatermark),
)
async def set_sync_watermark(tenant_id: str, request: Request, admin: AdminDep) -> Response:
    body = await _body(request, SyncWatermark)
    await run_in_threadpool(admin.set_sync_watermark, tenant_id, body.source, body.watermarkMs)
    return Response(status_code=204)


@router.post("/demo", dependencies=guarded, openapi_extra=_documented(DemoRequest))
async def seed_demo(request: Request, admin: AdminDep) -> list[dict[str, Any]]:
    body = await _body(request, DemoRequest)
    issued = await run_in_threadpool(
        lambda: admin.seed_demo(body.calls, body.seed, replace=body.replace)
    )
    return [_issued(item) for item in issued]


@router.post("/compact", dependencies=guarded)
async def compact(admin: AdminDep) -> dict[str, bool]:
    return {"compacted": await run_in_threadpool(admin.compact)}


MAX_DIRECTORY_BYTES = 64 << 20


@router.put("/tenants/{tenant_id}/directory", dependencies=guarded)
async def replace_directory(tenant_id: str, request: Request, admin: AdminDep) -> dict[str, int]:
    """Replace the tenant's whole directory: a CSV body (`kind,id,name`) or a JSON list."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DIRECTORY_BYTES:
            raise PayloadTooLarge(f"The body is larger than {MAX_DIRECTORY_BYTES} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest([FieldError("body", "is not valid JSON")]) from None
        entries = parse_json(items)
    else:
        entries = parse_csv(raw)
    return {"entries": await run_in_threadpool(admin.replace_directory, tenant_id, entries)}


@router.get("/tenants/{tenant_id}/directory", dependencies=guarded, response_model=None)
async def get_directory(tenant_id: str, request: Request, admin: AdminDep) -> Any:
    """The tenant's directory: a JSON list of {kind, id, name}, or CSV when asked for."""
    entries = await run_in_threadpool(admin.directory, tenant_id)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(entries), media_type="text/csv; charset=utf-8")
    return [entry.as_json() for entry in export_order(entries)]


@router.get("/tenants", dependencies=guarded)
async def list_tenants(admin: AdminDep) -> list[dict[str, Any]]:
    return await run_in_threadpool(admin.list_tenants)


class Retention(_Body):
    retention: str = Field(max_length=40)


@router.put(
    "/tenants/{tenant_id}/retention",
    status_code=204,
    dependencies=guarded,
    openapi_extra=_documented(Retention),
)
async def set_retention(tenant_id: str, request: Request, admin: AdminDep) -> Response:
    body = await _body(request, Retention)
    await run_in_threadpool(admin.set_retention, tenant_id, body.retention)
    return Response(status_code=204)


class RetentionRun(_Body):
    tenantId: str | None = Field(None, max_length=128)


@router.post("/retention/apply", dependencies=guarded, openapi_extra=_documented(RetentionRun))
async def apply_retention(request: Request, admin: AdminDep) -> dict[str, int]:
    body = await _body(request, RetentionRun)
    if body.tenantId is not None and (errors := id_errors(body.tenantId)):
        raise InvalidRequest(errors)
    return await run_in_threadpool(admin.apply_retention, body.tenantId)


class Erasure(_Body):
    number: str | None = Field(None, max_length=200)
    name: str | None = Field(None, max_length=400)
    dryRun: bool = False


@router.post("/tenants/{tenant_id}/erase", dependencies=guarded, openapi_extra=_documented(Erasure))
async def erase_caller(tenant_id: str, request: Request, admin: AdminDep) -> dict[str, Any]:
    body = await _body(request, Erasure)
    return await run_in_threadpool(
        lambda: admin.erase(tenant_id, body.number, body.name, dry_run=body.dryRun)
    )


# A sync asks for pages of this size; more in one answer is refused.
MAX_CALL_IDS_PAGE = ID_PAGE


@router.get("/tenants/{tenant_id}/call-ids", dependencies=guarded)
async def call_ids(
    tenant_id: str,
    admin: AdminDep,
    fromMs: Annotated[int, Query(ge=0, le=MAX_EPOCH_MS)],
    toMs: Annotated[int, Query(ge=0, le=MAX_EPOCH_MS)],
    after: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CALL_IDS_PAGE)] = 1000,
) -> list[str]:
    """The callIds of the tenant's calls that started in [fromMs, toMs), in callId order after
    `after`: what a sync compares with its source's answer."""
    if after is not None and "\x00" in after:
        raise InvalidRequest([FieldError("after", "must not contain U+0000 (NUL)")])
    return await run_in_threadpool(admin.call_ids, tenant_id, fromMs, toMs, after, limit)


class CallErasure(_Body):
    # 200 callIds of at most 256 characters fit the 64 KiB admin body.
    callIds: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=200
    )

    @field_validator("callIds")
    @classmethod
    def _no_nul_ids(cls, value: list[str]) -> list[str]:
        if any("\x00" in item for item in value):
            raise ValueError("a callId must not contain U+0000 (NUL)")
        return value


@router.post(
    "/tenants/{tenant_id}/calls/erase", dependencies=guarded, openapi_extra=_documented(CallErasure)
)
async def erase_calls(tenant_id: str, request: Request, admin: AdminDep) -> dict[str, int]:
    """Delete the tenant's calls with these callIds; how many there were."""
    body = await _body(request, CallErasure)
    return {"erased": await run_in_threadpool(admin.erase_calls, tenant_id, body.callIds)}
