"""What every endpoint needs: the app's parts, the route, the caller's credential, a body.

A request to the API takes one trip to a worker thread and one read snapshot in the steady
state: credentials and tenants come from the authenticator's cache (admin/credentials.py), so only
the query itself runs in the thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import Scope

from recent_calls.admin.credentials import Authenticator
from recent_calls.api.ratelimit import Limiter
from recent_calls.api.ratelimit import enforce as enforce_rate_limit
from recent_calls.clock import Clock
from recent_calls.errors import (
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from recent_calls.fields import REGIONS
from recent_calls.settings import Settings
from recent_calls.storage.base import Credential, Storage, Tenant

VERSIONS = ("v1",)


@dataclass(frozen=True)
class Parts:
    """The app's parts, made once per app (api/app.py) and handed to every view."""

    settings: Settings
    clock: Clock
    storage: Storage
    auth: Authenticator
    limiter: Limiter | None


async def _parts(request: Request) -> Parts:
    # async, so that FastAPI calls it in the event loop: a plain function dependency would be
    # run in the thread pool, one thread hop more on every request.
    parts: Parts = request.app.state.parts
    return parts


PartsDep = Annotated[Parts, Depends(_parts)]

Endpoint = Callable[[Request, str, str, Parts], Awaitable[Response]]


class _LeanRoute(Route):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # FastAPI's router does not name the route in the scope; its own routes do, and the
        # metrics label requests with the route's template (api/metrics.py).
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def lean_route(router: APIRouter, endpoint: Endpoint) -> Route:
    """`endpoint`'s route of `router` as a plain Starlette route: the path's version and region
    and the app's parts are handed to it as they are, without FastAPI's per-request dependency
    solving and parameter handling (a third of a small request's CPU in the app). The app puts
    it before FastAPI's route, which stays for the OpenAPI document and is never reached.

    For endpoints that take exactly (request, version, region, parts), check everything
    themselves and answer a `Response`."""
    [route] = [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint]

    async def handle(request: Request) -> Response:
        params = request.path_params
        parts: Parts = request.app.state.parts
        return await endpoint(request, params["version"], params["region"], parts)

    return _LeanRoute(route.path, handle, methods=sorted(route.methods or ()), name=route.name)


def check_route(version: str, region: str) -> None:
    """404 for a version or region the API does not have."""
    if version not in VERSIONS:
        raise NotFound(f"There is no API version {version[:40]!r}; use v1.")
    if region not in REGIONS:
        raise NotFound(f"There is no region {region[:40]!r}; use us or uk.")


def basic_credentials(request: Request) -> tuple[str | None, str | None] | None:
    """The (api key, token) of an `Authorization: Basic` header, as mod_json_cdr's `cred`
    sends them; None without one. A malformed one gives (None, None): a 401."""
    values = request.headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest([FieldError("Authorization", "is given more than once; send it once")])
    scheme, _, encoded = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, colon, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):  # ValueError: not ASCII ("é")
        return None, None
    return (user or None, password or None) if colon else (None, None)


async def credential_of(request: Request, parts: Parts, *, basic: bool = False) -> Credential:
    """The caller's live credential (either spelling of the key header, or with `basic` an
    HTTP Basic `api key:token` when no key header is given), or 401; then 429."""
    headers = request.headers
    # Given twice, a credential would be read by whichever layer takes the first or the last.
    keys = headers.getlist("8x8-apikey") + headers.getlist("8x8-api-key")
    tokens = headers.getlist("token")
    twice = [name for name, given in (("8x8-apikey", keys), ("token", tokens)) if len(given) > 1]
    if twice:
        raise InvalidRequest(
            [FieldError(name, "is given more than once; send it once") for name in twice]
        )
    api_key = keys[0] if keys else None
    token = tokens[0] if tokens else None
    if basic and api_key is None and token is None:
        api_key, token = basic_credentials(request) or (None, None)
    credential = parts.auth.cached(api_key, token)
    if credential is None:
        credential = await run_in_threadpool(parts.auth.authenticate, api_key, token)
    await enforce_rate_limit(request, parts.limiter, credential)
    return credential


def declares_more_than(request: Request, limit: int) -> bool:
    """Whether the request's Content-Length says more than `limit` bytes. A value that is not
    ASCII digits says nothing here (`isdigit` alone takes "²", which `int` refuses); the HTTP
    server refuses it before the app, and a body is counted as it is read anyway."""
    declared = request.headers.get("content-length", "")
    if not (declared.isascii() and declared.isdigit()):
        return False
    return len(declared) > 18 or int(declared) > limit  # no limit has 19 digits


async def read_json(request: Request, limit: int) -> Any:
    """The decoded JSON body: 413 when over `limit` bytes, 415 when not JSON, 400 when broken.

    The body is UTF-8 JSON (RFC 8259): a byte order mark, UTF-16/32, invalid UTF-8 or a lone
    surrogate (raw or as a `\\ud800` escape) is a 400 naming `body` or the field; a compressed
    body (any Content-Encoding but identity) is a 415.
    """
    if declares_more_than(request, limit):
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    if len(request.headers.getlist("content-type")) > 1:
        raise InvalidRequest([FieldError("Content-Type", "is given more than once; send it once")])
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {shown[:60]}.")
    return decode_json(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, uncompressed as sent and at most `limit` bytes (else 413), however it
    arrives; the media type is the caller's to check first."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding[:40]!r} is not accepted; send the body uncompressed."
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in body_chunks(request):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; a client that leaves before its end is a 400 (nobody reads
    it), not an unhandled error."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise InvalidRequest(
            [FieldError("body", "ended early: the client closed the connection")]
        ) from None


def decode_json(raw: bytes) -> Any:
    """`raw` as strict UTF-8 JSON; InvalidRequest naming `body` or the field when it is not,
    or naming a key given twice in one object."""
    try:
        value = orjson.loads(raw)  # refuses invalid UTF-8, BOMs and lone surrogates itself
    except orjson.JSONDecodeError:
        pass
    else:
        if _may_repeat_a_key(raw, value):
            try:
                json.loads(raw, object_pairs_hook=_once_each)
            except RecursionError:
                raise InvalidRequest([FieldError("body", "is nested too deeply")]) from None
        return value
    # orjson refuses integers past 64 bits, which are valid JSON: the field rules judge those.
    # The fallback must refuse what orjson does: other encodings, invalid UTF-8, lone surrogates.
    if raw.startswith((b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")):
        raise InvalidRequest([FieldError("body", "starts with a byte order mark; send UTF-8")])
    try:
        text = raw.decode("utf-8")  # strict: encoded surrogates (ED A0 80) are invalid UTF-8
    except UnicodeDecodeError:
        raise InvalidRequest([FieldError("body", "is not valid UTF-8; send UTF-8 JSON")]) from None
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, parse_int=_integer, object_pairs_hook=_once_each
        )
    except (ValueError, RecursionError):
        raise InvalidRequest(
            [FieldError("body", "is not valid JSON; expected a JSON object")]
        ) from None
    where = lone_surrogate_at(value)
    if where is not None:
        raise InvalidRequest([FieldError(where, "holds a lone surrogate; text must be Unicode")])
    return value


def _may_repeat_a_key(raw: bytes, value: Any) -> bool:
    """False only when no object in `raw` gives a key twice; cheap, so every body is checked.

    orjson keeps the last of repeated keys. A colon in JSON is either a key's separator or a
    character inside a string; orjson's own encoding of what it decoded writes the same string
    colons, so unless `raw` escapes one (`\\u003a`, when the exact check decodes again), `raw`
    holds more colons exactly when a key was dropped.
    """
    if b"\\u003" in raw:
        return True
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested deeper than orjson encodes (254): check exactly
        return True
    return raw.count(b":") != encoded.count(b":")


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidRequest(
                    [FieldError(key[:100], "is given more than once in one object; give it once")]
                )
            seen.add(key)
    return result


# Past this many digits an integer is read as +-10**HUGE_DIGITS: out of range for every field
# (which then names itself), and cheap to convert (Python refuses str->int past 4300 digits).
HUGE_DIGITS = 100


def _integer(text: str) -> int:
    digits = text.lstrip("-")
    huge: int = 10**HUGE_DIGITS
    if len(digits) > HUGE_DIGITS:
        return -huge if text.startswith("-") else huge
    return int(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """The path (`callerName`, `calls[0].postCallSurvey`) of the first string holding a lone
    surrogate, or None. A decoded pair is one code point; any surrogate left is alone."""
    if isinstance(value, str):
        return (path or "body") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(key):
                return path or "body"
            found = lone_surrogate_at(item, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_at(item, f"{path}[{index}]" if path else f"body[{index}]")
            if found is not None:
                return found
    return None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


FORBIDDEN = "These credentials may not access the requested tenant in this region."


def bind_tenant(
    auth: Authenticator, credential: Credential, tenant_id: str, region: str, scope: str
) -> Tenant:
    """The tenant the credential is bound to, if it is the one asked for, in this region, and
    the credential holds `scope`; else 403.

    Every binding failure answers the same words, so tenant names cannot be probed; the scope
    is checked only after, so a missing scope says nothing about other tenants.
    """
    if credential.tenant_id != tenant_id:
        raise Forbidden(FORBIDDEN)
    tenant = auth.tenant(tenant_id)
    if tenant is None or tenant.region != region:
        raise Forbidden(FORBIDDEN)
    if scope not in credential.scopes:
        raise Forbidden(
            f"This credential lacks the {scope!r} scope that this endpoint needs; it holds "
            f"{', '.join(credential.scopes) or 'none'}. Issue one with "
            f"`recent-calls credentials create TENANT --scope {scope}`."
        )
    return tenant


KEY_AND_TOKEN: list[dict[str, list[str]]] = [{"ApiKey": [], "Token": []}]
"""The credential headers every API route takes (the OpenAPI document's security schemes)."""


def api_route(
    scope: str,
    body_schema: dict[str, Any],
    *,
    media_types: tuple[str, ...] = ("application/json",),
    security: list[dict[str, list[str]]] = KEY_AND_TOKEN,
) -> dict[str, Any]:
    """An API route's OpenAPI extras: the scope it needs (`x-scope`, which bind_tenant checks
    and tests/test_scopes.py walks every route for), its required body, its credentials."""
    return {
        "x-scope": scope,
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": body_schema} for media_type in media_types},
        },
        "security": security,
    }
