"""POST .../calls/{region}/freeswitch: legs posted exactly as mod_json_cdr posts them."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.routes.push_freeswitch import MEDIA_TYPES
from recent_calls.demo import generate_calls
from recent_calls.demo.telephony import freeswitch_legs
from recent_calls.ingest.freeswitch import leg_call
from recent_calls.storage.base import Storage
from tests.calls import rows_of
from tests.support import FROZEN_NOW, LiveServer
from tests.test_telephony import stored_rows

PATH = "/customerexperience/v1/calls/us/freeswitch"
USER_AGENT = "freeswitch-json/1.0"  # what mod_json_cdr's curl handle calls itself


def queued_call() -> dict[str, Any]:
    calls = generate_calls("acme", 200, seed=3, end_ms=int(FROZEN_NOW), timezone="UTC")
    return next(c for c in calls if c["callSubType"] == "Queued" and c["agentId"])


def basic(credential: IssuedCredential) -> dict[str, str]:
    pair = f"{credential.api_key}:{credential.token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def as_posted(leg: dict[str, Any], encode: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers mod_json_cdr sends for one leg with its `encode` setting."""
    text = json.dumps(leg, ensure_ascii=False)
    if encode == "true":  # switch_url_encode of the JSON, after `cdr=`
        body = b"cdr=" + quote(text, safe="").encode()
        kind = "application/x-www-form-urlencoded"
    elif encode == "base64":
        body = b"cdr=" + base64.b64encode(text.encode())
        kind = "application/x-www-form-base64-encoded"
    else:
        body, kind = text.encode(), "application/json"
    return body, {"Content-Type": kind, "User-Agent": USER_AGENT, "Accept": "*/*"}


@pytest.mark.parametrize("encode", ["true", "base64", "false"])
@pytest.mark.parametrize("encode_values", [True, False])
def test_each_encoding_stores_the_member_leg_once(
    server: LiveServer, database: str, encode: str, encode_values: bool
) -> None:
    credential = server.tenant("acme")
    member, *agents = freeswitch_legs(queued_call(), encode_values=encode_values)
    assert agents and member["variables"]["cc_side"] == "member"
    body, headers = as_posted(member, encode)
    url = PATH if encode_values else PATH + "?encodeValues=false"
    first = server.http.post(url, content=body, headers={**headers, **basic(credential)})
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 1, "inserted": 1, "replaced": 0}
    expected = leg_call(member, encoded_values=encode_values)
    assert expected is not None
    want = {row[0]: tuple(row) for row in rows_of(expected)}
    assert stored_rows(database, "acme") == want
    # mod_json_cdr retries when it did not see the 200: the repeat stores nothing new.
    again = server.http.post(url, content=body, headers={**headers, **basic(credential)})
    assert again.json() == {"received": 1, "inserted": 0, "replaced": 1}
    assert stored_rows(database, "acme") == want
    for agent in agents:
        body, headers = as_posted(agent, encode)
        leg = server.http.post(url, content=body, headers={**headers, **basic(credential)})
        assert leg.status_code == 200 and leg.json()["received"] == 0
    assert stored_rows(database, "acme") == want


def test_the_usual_headers_authenticate_too(api: LiveServer, database: str) -> None:
    credential = api.tenant("acme")
    body, headers = as_posted(freeswitch_legs(queued_call())[0], "false")
    keys = {"8x8-apikey": credential.api_key, "token": credential.token}
    answer = api.http.post(PATH, content=body, headers={**headers, **keys})
    assert answer.status_code == 200 and answer.json()["inserted"] == 1
    assert len(stored_rows(database, "acme")) == 1


def test_checks_run_in_spec_order_and_name_what_is_wrong(
    api: LiveServer, storage: Storage, database: str
) -> None:
    credential = api.tenant("acme")
    uk = api.tenant("britco", region="uk")
    body, headers = as_posted(freeswitch_legs(queued_call())[0], "true")
    auth = basic(credential)

    def post(path: str = PATH, content: bytes = body, **extra: str) -> Any:
        return api.http.post(path, content=content, headers={**headers, **extra})

    assert post("/customerexperience/v9/calls/us/freeswitch", **auth).status_code == 404
    assert post().status_code == 401  # no credentials at all
    wrong = base64.b64encode(f"{credential.api_key}:nope".encode()).decode()
    assert post(Authorization=f"Basic {wrong}").status_code == 401
    assert post(Authorization="Basic %%%").status_code == 401
    assert post(Authorization="Bearer x").status_code == 401
    # 401 before anything about the body.
    assert post(content=b"x", **{"Content-Type": "text/plain"}).status_code == 401
    plain = post(**{**auth, "Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/x-www-form-urlencoded" in plain.text
    big = post(content=b"cdr=" + b"a" * (17 << 20), **auth)
    assert big.status_code == 413
    no_field = post(content=b"uuid=1", **auth)
    assert no_field.status_code == 400 and "has no cdr= field" in no_field.text
    broken = post(content=b"cdr=%7B", **auth)
    assert broken.status_code == 400 and "is not valid JSON" in broken.text
    flag = api.http.post(PATH + "?encodeValues=maybe", content=body, headers={**headers, **auth})
    assert flag.status_code == 400 and "encodeValues" in flag.text
    # The body's errors (400) come before the binding (403): a uk credential on the us route.
    assert post(content=b"cdr=%7B", **basic(uk)).status_code == 400
    assert post(**basic(uk)).status_code == 403
    assert stored_rows(database, "acme") == {} and stored_rows(database, "britco") == {}
    assert post(**auth).status_code == 200


def test_encode_values_off_keeps_plus_and_percent_as_written(
    api: LiveServer, database: str
) -> None:
    credential = api.tenant("acme")
    member = freeswitch_legs(queued_call(), encode_values=False)[0]
    member["variables"]["cc_queue"] = "sales%41+vip"
    body, headers = as_posted(member, "true")
    answer = api.http.post(
        PATH + "?encodeValues=false", content=body, headers={**headers, **basic(credential)}
    )
    assert answer.status_code == 200, answer.text
    (row,) = stored_rows(database, "acme").values()
    assert row[13] == ["sales%41+vip"]


BODIES = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda b: b"cdr=" + b, st.binary(max_size=300)),
    st.builds(
        lambda doc: b"cdr=" + base64.b64encode(json.dumps(doc).encode()),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=10,
        ),
    ),
)


ISSUED: dict[int, dict[str, str]] = {}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, kind=st.sampled_from(MEDIA_TYPES))
def test_no_body_is_answered_with_a_server_error(api: LiveServer, body: bytes, kind: str) -> None:
    if id(api.storage) not in ISSUED:  # one tenant per test database, for every example
        ISSUED[id(api.storage)] = basic(api.tenant("acme"))
    headers = {"Content-Type": kind, **ISSUED[id(api.storage)]}
    answer = api.http.post(PATH, content=body, headers=headers)
    assert answer.status_code in (200, 400), answer.text


@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a":', "}")], ids=["list", "object"])
def test_a_profile_index_nested_as_deep_as_json_goes_is_stored_not_a_server_error(
    server: LiveServer, database: str, opening: str, closing: str
) -> None:
    # On the real server, deeper in the stack than a reader test: `str` of such a value
    # recursed past Python's limit and the answer was a 500.
    member, *_ = freeswitch_legs(queued_call(), encode_values=False)
    member["callflow"][0]["profile_index"] = "@@deep@@"
    deep = opening * 1000 + '"1"' + closing * 1000
    body = json.dumps(member).replace('"@@deep@@"', deep).encode()
    answer = server.http.post(
        PATH + "?encodeValues=false",
        content=body,
        headers={"Content-Type": "application/json", **basic(server.tenant("acme"))},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 1
    assert len(stored_rows(database, "acme")) == 1


@pytest.mark.parametrize("credentials", [b"\xe9\xe9", b"\xff", "é:è".encode()])
def test_basic_credentials_that_are_not_ascii_base64_are_a_401(
    server: LiveServer, credentials: bytes
) -> None:
    # Header bytes past ASCII reach the app as Latin-1 text, which base64 refuses with a
    # ValueError of its own (not binascii.Error): that was a 500 on the real server.
    server.tenant("acme")
    member, *_ = freeswitch_legs(queued_call(), encode_values=False)
    body, headers = as_posted(member, "false")
    answer = server.http.post(
        PATH, content=body, headers=[*headers.items(), (b"Authorization", b"Basic " + credentials)]
    )
    assert answer.status_code == 401, answer.text
