"""What every endpoint needs: the app's parts, the route, the caller's credential, a body.

A request to the API takes one trip to a worker thread and one read snapshot in the steady
state: credentials and tenants come from the authenticator's cache (credentials.py), so only
the query itself runs in the thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..clock import Clock
from ..credentials import Authenticator
from ..errors import (
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ..ratelimit import Limiter
from ..ratelimit import enforce as enforce_rate_limit
from ..settings import Settings
from ..storage.base import Credential, Storage, Tenant

VERSIONS = ("v1",)
REGIONS = ("us", "uk")


@dataclass(frozen=True)
class Parts:
    """The app's parts, made once per app (app.py) and handed to every view."""

    settings: Settings
    clock: Clock
    storage: Storage
    auth: Authenticator
    limiter: Limiter | None


def _parts(request: Request) -> Parts:
    parts: Parts = request.app.state.parts
    return parts


PartsDep = Annotated[Parts, Depends(_parts)]


def check_route(version: str, region: str) -> None:
    """404 for a version or region the API does not have."""
    if version not in VERSIONS:
        raise NotFound(f"There is no API version {version[:40]!r}; use v1.")
    if region not in REGIONS:
        raise NotFound(f"There is no region {region[:40]!r}; use us or uk.")


async def credential_of(request: Request, parts: Parts) -> Credential:
    """The caller's live credential (either spelling of the key header), or 401; then 429."""
    headers = request.headers
    api_key = headers.get("8x8-apikey") or headers.get("8x8-api-key")
    token = headers.get("token")
    credential = parts.auth.cached(api_key, token)
    if credential is None:
        credential = await run_in_threadpool(parts.auth.authenticate, api_key, token)
    await enforce_rate_limit(request, parts.limiter, credential)
    return credential


async def read_json(request: Request, limit: int) -> Any:
    """The decoded JSON body: 413 when over `limit` bytes, 415 when not JSON, 400 when broken."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {shown[:60]}.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        # orjson refuses integers past 64 bits, which are valid JSON: let the field rules judge.
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest(
            [FieldError("body", "is not valid JSON; expected a JSON object")]
        ) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


FORBIDDEN = "These credentials may not access the requested tenant in this region."


def bind_tenant(auth: Authenticator, credential: Credential, tenant_id: str, region: str) -> Tenant:
    """The tenant the credential is bound to, if it is the one asked for, in this region; else 403.

    Every failure answers the same words, so tenant names cannot be probed.
    """
    if credential.tenant_id != tenant_id:
        raise Forbidden(FORBIDDEN)
    tenant = auth.tenant(tenant_id)
    if tenant is None or tenant.region != region:
        raise Forbidden(FORBIDDEN)
    return tenant
