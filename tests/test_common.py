"""api/routes/common.py: what every endpoint checks first, in SPEC's order (route, credentials,
body, fields, tenant): one credential, one Content-Type, a JSON body with each key once."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest
from fastapi.routing import APIRoute
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.app import create_app
from recent_calls.api.routes.common import decode_json
from recent_calls.errors import InvalidRequest
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
from tests.support import InProcessHTTP, LiveServer

PATH = "/customerexperience/v1/recentCallData/us"
BODY = b'{"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory"}'
JSON = ("Content-Type", "application/json")


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 400, answer.text
    return [error["field"] for error in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("second", "named"),
    [("8x8-apikey", "8x8-apikey"), ("8x8-api-key", "8x8-apikey"), ("token", "token")],
    ids=["key-twice", "both-spellings", "token-twice"],
)
def test_a_credential_header_given_twice_is_refused_naming_it(
    api: LiveServer, second: str, named: str
) -> None:
    good = api.tenant("acme", calls=[make_call("c1", 1710345000000)])
    other = api.tenant("other")
    extra = other.token if second == "token" else other.api_key
    headers = [("8x8-apikey", good.api_key), ("token", good.token), JSON, (second, extra)]
    answer = api.http.post(PATH, headers=headers, content=BODY)
    assert _fields(answer) == [named]
    assert "once" in answer.json()["errors"][0]["message"]


def test_content_type_given_twice_is_refused_naming_it(api: LiveServer) -> None:
    good = api.tenant("acme")
    headers = [("8x8-apikey", good.api_key), ("token", good.token), JSON, JSON]
    assert _fields(api.http.post(PATH, headers=headers, content=BODY)) == ["Content-Type"]


def test_a_repeated_key_is_refused_naming_it_and_the_last_never_wins(api: LiveServer) -> None:
    britco = api.tenant("britco01")
    api.tenant("acmecorp01", calls=[make_call("secret", 1710345000000)])
    headers = [("8x8-apikey", britco.api_key), ("token", britco.token), JSON]
    body = (
        b'{"tenantId":"britco01","tenantId":"acmecorp01","page":1,"rows":5,"duration":"allhistory"}'
    )
    answer = api.http.post(PATH, headers=headers, content=body)
    assert _fields(answer) == ["tenantId"]
    assert "secret" not in answer.text


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"a": 1, "a": 1}', "a"),
        (b'{"a" : 1, "a"\n:2}', "a"),
        (b'{"calls": [{"callId": "x", "n": {"v": 1, "v": 2}}]}', "v"),
        (b'{"x\\"": 1, "x\\"": 2}', 'x"'),
        (b'{"big": 123456789012345678901234567890, "b": 1, "b": 2}', "b"),
        # A quote or a colon inside a string written as an escape must not even the count.
        (b'{"a":1,"a":2,"s":"\\u0022:"}', "a"),
        (b'{"a":1,"a":2,"s":"\\"\\u003a"}', "a"),
    ],
    ids=["flat", "spaced", "nested", "escaped-quote", "fallback-decoder", "u0022", "u003a"],
)
def test_decoding_refuses_a_repeated_key_anywhere(raw: bytes, key: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        decode_json(raw)
    [error] = refused.value.errors
    assert error.field == key and "more than once" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "b\\":", "c": {"a": 1}}',  # a key-like run inside a string; the same key nested
        b'{\n  "a" : 1,\n  "b" : [ {"a" : 2}, {"a" : 3} ]\n}',
        b'[{"a": 1}, {"a": 2}]',
        b"null",
        b'"a\\":"',
        b"7",
    ],
)
def test_decoding_keeps_a_body_whose_keys_look_repeated_but_are_not(raw: bytes) -> None:
    decode_json(raw)


class _Obj(list[tuple[str, Any]]):
    """A JSON object as written, so that a repeated key survives until it is encoded."""


_keys = st.text(alphabet='ab":\\ é', max_size=3)
_scalars = st.one_of(st.none(), st.integers(-5, 5), st.text(alphabet='ab":\\ é', max_size=4))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(st.tuples(_keys, inner), max_size=4).map(_Obj)
    ),
    max_leaves=12,
)


def _string(text: str, draw: st.DrawFn) -> str:
    written = json.dumps(text, ensure_ascii=draw(st.booleans()))
    # A colon or a quote inside a string may also be written as an escape.
    if draw(st.booleans()):
        written = written.replace(":", "\\u003a")
    if draw(st.booleans()):
        written = '"' + written[1:-1].replace('\\"', "\\u0022") + '"'
    return written


def _encode(value: Any, draw: st.DrawFn) -> str:
    space = draw(st.sampled_from(["", " ", "\n"]))
    if isinstance(value, _Obj):
        pairs = [f"{_string(k, draw)}{space}:{_encode(v, draw)}" for k, v in value]
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + f",{space}".join(_encode(v, draw) for v in value) + "]"
    if isinstance(value, str):
        return _string(value, draw)
    return json.dumps(value)


def _repeats(value: Any) -> bool:
    if isinstance(value, _Obj):
        keys = [k for k, _ in value]
        return len(set(keys)) != len(keys) or any(_repeats(v) for _, v in value)
    if isinstance(value, list):
        return any(_repeats(v) for v in value)
    return False


@given(data=st.data(), top=st.lists(st.tuples(_keys, _values), max_size=5).map(_Obj))
@settings(max_examples=200, deadline=None)
def test_any_written_object_is_refused_exactly_when_a_key_repeats(
    data: st.DataObject, top: _Obj
) -> None:
    raw = _encode(top, data.draw).encode()
    if _repeats(top):
        with pytest.raises(InvalidRequest):
            decode_json(raw)
    else:
        assert decode_json(raw) == json.loads(raw)


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


def test_the_data_route_is_answered_by_its_lean_route_and_still_documented() -> None:
    """The hot route runs without FastAPI's per-request dependency solving (`lean_route`): the
    app's first route is a plain one for the same path and method, and FastAPI's stays in the
    OpenAPI document."""
    app = create_app()
    path = "/customerexperience/{version}/recentCallData/{region}"
    first = app.router.routes[0]
    assert isinstance(first, Route) and not isinstance(first, APIRoute)
    assert (first.path, first.methods, first.name) == (path, {"POST"}, "recent_call_data")
    assert "post" in app.openapi()["paths"][path]
