"""POST /customerexperience/{version}/calls/{region}/freeswitch: legs as mod_json_cdr posts them.

mod_json_cdr posts each leg as it ends, in its `encode` setting's form (`cdr=` url-encoded,
`cdr=` base64, or the JSON itself), authenticated by its `cred` as HTTP Basic (api key:token)
or by the usual headers. The answer is 200 only once the call is stored, so its retries are
safe (a repeat replaces the call by its callId); an agent leg is acknowledged and not stored.
The checks run in SPEC's order: route, credentials, body size and type, body, tenant binding.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from recent_calls.api.routes.common import (
    KEY_AND_TOKEN,
    Parts,
    PartsDep,
    api_route,
    bind_tenant,
    check_route,
    credential_of,
    declares_more_than,
    read_body,
)
from recent_calls.api.schemas import PROBLEM_RESPONSES, IngestResult
from recent_calls.errors import (
    FieldError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from recent_calls.ingest.bulk import parse_calls, store_calls
from recent_calls.ingest.freeswitch import call_from_post
from recent_calls.ingest.sources import SourceError
from recent_calls.storage.base import Credential

# A telephony receiver, as the push endpoint: the credential needs the push scope.
SCOPE = "push"

router = APIRouter(tags=["Ingestion"])

MEDIA_TYPES = (
    "application/x-www-form-urlencoded",  # encode=true (mod_json_cdr's default)
    "application/x-www-form-base64-encoded",  # encode=base64
    "application/json",  # encode=false
)
FALSE = frozenset({"false", "0", "no", "off"})


async def _body(request: Request, limit: int) -> tuple[bytes, str]:
    """The raw body and its media type: 413 over `limit`, 415 for a type mod_json_cdr never
    sends or a compressed body."""
    if declares_more_than(request, limit):
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    types = request.headers.getlist("content-type")
    if len(types) > 1:
        raise InvalidRequest([FieldError("Content-Type", "is given more than once; send it once")])
    content_type = types[0] if types else ""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be one of {', '.join(MEDIA_TYPES)} (mod_json_cdr's encodings), "
            f"not {shown[:60]}."
        )
    return await read_body(request, limit), media_type


def _encoded_values(request: Request) -> bool:
    """Whether the legs' variables are url-encoded (mod_json_cdr's `encode-values`, on by
    default): `?encodeValues=false` in the url says they are not."""
    given = request.query_params.getlist("encodeValues")
    if len(given) > 1:
        raise InvalidRequest([FieldError("encodeValues", "is given more than once")])
    if not given:
        return True
    value = given[0].strip().lower()
    if value in FALSE:
        return False
    if value in ("true", "1", "yes", "on"):
        return True
    raise InvalidRequest(
        [FieldError("encodeValues", f"expected true or false, not {value[:20]!r}")]
    )


def _store(
    parts: Parts, credential: Credential, region: str, call: dict[str, Any] | None
) -> IngestResult:
    # SPEC order: the call's field errors (400) before the tenant binding (403).
    rows = parse_calls([call]) if call is not None else []
    tenant = bind_tenant(parts.auth, credential, credential.tenant_id, region, SCOPE)
    if not rows:  # an agent leg: nothing the member leg lacks
        return IngestResult(received=0, inserted=0, replaced=0)
    report = store_calls(parts.storage, tenant.tenant_id, rows, 1)
    return IngestResult(
        received=report.received, inserted=report.inserted, replaced=report.replaced
    )


@router.post(
    "/customerexperience/{version}/calls/{region}/freeswitch",
    summary="Store a FreeSWITCH leg as mod_json_cdr posts it (idempotent by callId)",
    response_model=IngestResult,
    responses=PROBLEM_RESPONSES,
    openapi_extra=api_route(
        SCOPE,
        {"type": "string"},
        media_types=tuple(MEDIA_TYPES),
        security=[{"Basic": []}, *KEY_AND_TOKEN],
    ),
)
async def ingest_freeswitch(
    request: Request, version: str, region: str, parts: PartsDep
) -> IngestResult:
    check_route(version, region)
    credential = await credential_of(request, parts, basic=True)
    body, media_type = await _body(request, parts.settings.max_ingest_bytes)
    encoded_values = _encoded_values(request)
    try:
        call = call_from_post(body, media_type, encoded_values=encoded_values)
    except SourceError as exc:
        raise InvalidRequest([exc.error]) from None
    result = await run_in_threadpool(_store, parts, credential, region, call)
    metrics = request.app.state.metrics
    metrics.pushed.inc(result.inserted + result.replaced)
    metrics.push_batches.inc()
    return result
