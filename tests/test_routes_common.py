"""api/routes/common.py: what every endpoint checks first, in SPEC's order; its JSON body reader.

The order: route, credentials, body, fields, tenant.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential
from tests.calls import make_call
from tests.endpoints import (
    DATA,
    FACETS,
    LONE_ESCAPE,
    LONE_RAW,
    PUSH,
    QUERY,
    STATS,
    auth,
    body_with,
    fields_of,
    raw,
)
from tests.support import InProcessHTTP


@pytest.mark.parametrize("text", [LONE_ESCAPE, LONE_RAW], ids=["escape", "raw"])
@pytest.mark.parametrize(
    ("path", "base", "field"),
    [
        (DATA, QUERY, "callerName"),
        (DATA, QUERY, "agentId"),
        (STATS, QUERY, "callerName"),
        (STATS, QUERY, "queueId"),
        (FACETS, {"tenantId": "acme"}, "tenantId"),
        (PUSH, {"tenantId": "acme", "calls": []}, "tenantId"),
    ],
)
def test_a_lone_surrogate_is_a_400_on_every_endpoint(
    http: InProcessHTTP,
    acme: IssuedCredential,
    path: str,
    base: dict[str, Any],
    field: str,
    text: bytes,
) -> None:
    listed = field in ("agentId", "queueId", "callerName")  # these filters take an array
    body = body_with(base, field, b"[" + text + b"]" if listed else text)
    found = fields_of(raw(http, path, body, **auth(acme)))
    # The escape is decoded and found in its field; raw bytes are not UTF-8 at all.
    assert found == ([f"{field}[0]" if listed else field] if text == LONE_ESCAPE else ["body"])


ENDPOINT_BODIES = [
    (DATA, {**QUERY, "tenantId": "other"}, {**QUERY, "tenantId": "other", "rows": "many"}),
    (STATS, {**QUERY, "tenantId": "other"}, {**QUERY, "tenantId": "other", "interval": "year"}),
    (FACETS, {"tenantId": "other"}, {"tenantId": ""}),
    (
        PUSH,
        {"tenantId": "other", "calls": [make_call("x", 1710000000000)]},
        {"tenantId": "other", "calls": [make_call("x", 1710000000000, waitTime="soon")]},
    ),
]


@pytest.mark.parametrize(("path", "forbidden", "bad_field"), ENDPOINT_BODIES)
def test_checks_run_in_spec_order_route_credentials_body_fields_tenant(
    http: InProcessHTTP,
    acme: IssuedCredential,
    path: str,
    forbidden: dict[str, Any],
    bad_field: dict[str, Any],
) -> None:
    good = auth(acme)
    wrong_route = path.replace("/v1/", "/v9/")
    assert raw(http, wrong_route, b"{", **{"8x8-apikey": "x"}).status_code == 404
    assert raw(http, path.replace("/us", "/zz"), b"{").status_code == 404
    assert raw(http, path, b"{").status_code == 401  # credentials before the body
    big = b"{" + b" " * (20 * 1024 * 1024) + b"}"
    assert raw(http, path, big, **good).status_code == 413
    assert http.post(path, content=b"{}", headers=good).status_code == 415
    assert raw(http, path, b"{", **good).status_code == 400
    assert http.post(path, json=bad_field, headers=good).status_code == 400  # fields before 403
    assert http.post(path, json=forbidden, headers=good).status_code == 403


def test_a_body_with_a_bom_or_in_utf16_is_a_400_naming_the_body(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    text = orjson.dumps(QUERY).decode()
    for content in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16"), text.encode("utf-32")):
        assert fields_of(raw(http, DATA, content, **auth(acme))) == ["body"]


def test_a_compressed_body_is_a_415(http: InProcessHTTP, acme: IssuedCredential) -> None:
    content = gzip.compress(orjson.dumps(QUERY))
    answer = raw(http, DATA, content, **auth(acme), **{"Content-Encoding": "gzip"})
    assert answer.status_code == 415
    assert "Content-Encoding" in answer.json()["detail"]
