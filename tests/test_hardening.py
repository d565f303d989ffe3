"""Hardening (issue 12): no input reaches a 5xx, and the check order is SPEC's, on every endpoint.

Each test names the defect it pins down; the storage-touching ones run on both engines.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.admin.local import LocalAdmin
from recent_calls.api.app import create_app
from recent_calls.ingest.records import MAX_START_MS
from recent_calls.query.windows import MAX_EPOCH_MS, zone_names
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage

from .calls import make_call
from .support import FROZEN_NOW, InProcessHTTP, add_tenant

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
V1 = "/customerexperience/v1"
DATA, STATS, FACETS, PUSH = (
    f"{V1}/recentCallData/us",
    f"{V1}/recentCallStats/us",
    f"{V1}/recentCallFacets/us",
    f"{V1}/calls/us",
)
QUERY = {"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def http(storage: Storage, database: str) -> Iterator[InProcessHTTP]:
    settings = Settings(database=database, now=FROZEN_NOW, admin_token=ADMIN_TOKEN)
    client = InProcessHTTP(create_app(settings, storage=storage))
    yield client
    client.close()


@pytest.fixture
def acme(storage: Storage) -> IssuedCredential:
    add_tenant(storage, "other", "us", [make_call("o1", 1710000000000)])
    return add_tenant(storage, "acme", "us", [make_call("a1", 1710000000000)])


def auth(credential: IssuedCredential) -> dict[str, str]:
    return {"8x8-apikey": credential.api_key, "token": credential.token}


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


def raw(http: InProcessHTTP, path: str, content: bytes, **headers: str) -> Any:
    return http.post(path, content=content, headers={**JSON, **headers})


# -- defect 1: a null in a required field ----------------------------------------------------


@pytest.mark.parametrize("name", ["page", "rows"])
def test_a_null_page_or_rows_is_a_400_saying_it_is_required(
    http: InProcessHTTP, acme: IssuedCredential, name: str
) -> None:
    answer = http.post(DATA, json={**QUERY, name: None}, headers=auth(acme))
    assert fields_of(answer) == [name]
    assert "is required" in answer.json()["errors"][0]["message"]


# -- defect 2: lone surrogates and invalid UTF-8 in any JSON body ----------------------------

LONE_ESCAPE = b'"\\ud800"'  # the JSON escape of a lone high surrogate
LONE_RAW = b'"\xed\xa0\x80"'  # the same code point as (invalid) UTF-8 bytes


def _body(base: dict[str, Any], field: str, text: bytes) -> bytes:
    marker = b'"@@"'
    encoded = orjson.dumps({**base, field: "@@"})
    return encoded.replace(marker, text)


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
    body = _body(base, field, b"[" + text + b"]" if listed else text)
    found = fields_of(raw(http, path, body, **auth(acme)))
    # The escape is decoded and found in its field; raw bytes are not UTF-8 at all.
    assert found == ([f"{field}[0]" if listed else field] if text == LONE_ESCAPE else ["body"])


@pytest.mark.parametrize("text", [LONE_ESCAPE, LONE_RAW], ids=["escape", "raw"])
def test_a_lone_surrogate_in_a_pushed_call_is_a_400_naming_the_call(
    http: InProcessHTTP, acme: IssuedCredential, text: bytes
) -> None:
    call = orjson.dumps(make_call("s1", 1710000000000, postCallSurvey="@@"))
    body = b'{"tenantId":"acme","calls":[' + call.replace(b'"@@"', text) + b"]}"
    found = fields_of(raw(http, PUSH, body, **auth(acme)))
    assert found == (["calls[0].postCallSurvey"] if text == LONE_ESCAPE else ["body"])


@pytest.mark.parametrize("text", [LONE_ESCAPE, LONE_RAW], ids=["escape", "raw"])
def test_a_lone_surrogate_in_a_tenant_label_is_a_400_and_creates_nothing(
    http: InProcessHTTP, storage: Storage, text: bytes
) -> None:
    body = _body({"tenantId": "newco", "region": "us"}, "label", text)
    expected = ["label"] if text == LONE_ESCAPE else ["body"]
    assert fields_of(raw(http, "/admin/v1/tenants", body, **ADMIN)) == expected
    assert storage.get_tenant("newco") is None


# -- defect 6: the admin API, every body field, and an atomic tenant create ------------------


def test_a_failing_tenant_create_leaves_no_tenant(storage: Storage) -> None:
    admin = LocalAdmin(storage)
    with pytest.raises(Exception):  # noqa: B017  the engine refuses the text itself
        admin.create_tenant("newco", "us", "\ud800")
    assert storage.get_tenant("newco") is None
    assert [e for e in admin.audit_log("newco", 10)] == []
    admin.create_tenant("newco", "us", "fine")
    with pytest.raises(Exception):  # noqa: B017  a duplicate
        admin.create_tenant("newco", "us", "again")
    assert len(admin.list_credentials("newco")) == 1


ADMIN_BODIES = [
    ("/admin/v1/tenants", "POST", {"tenantId": "t1", "region": "us", "label": "x"}),
    ("/admin/v1/tenants/acme/credentials", "POST", {"label": "x"}),
    ("/admin/v1/tenants/acme/sync-watermark", "PUT", {"source": "s", "watermarkMs": 5}),
    ("/admin/v1/demo", "POST", {"calls": 0, "seed": 1, "replace": False}),
]
BAD_VALUES = [None, 2**70, -(2**70), "text", 1.5, True, [], {}, "\x00" * 300]


@pytest.mark.parametrize(("path", "method", "good"), ADMIN_BODIES)
def test_every_admin_body_field_with_a_bad_value_is_a_400_naming_it(
    http: InProcessHTTP, acme: IssuedCredential, path: str, method: str, good: dict[str, Any]
) -> None:
    for field in good:
        for value in BAD_VALUES:
            answer = http.request(method, path, json={**good, field: value}, headers=ADMIN)
            assert answer.status_code < 500, (field, value, answer.text)
            if answer.status_code == 400:
                assert fields_of(answer) == [field], (field, value)
            else:
                # null means absent (a default applies), or a value that is merely unusual
                assert answer.status_code in (200, 201, 204, 404, 409), (field, value, answer.text)


def test_a_sync_watermark_of_2_to_the_70_is_a_400(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    path = "/admin/v1/tenants/acme/sync-watermark"
    body = {"source": "s", "watermarkMs": 2**70}
    assert fields_of(http.request("PUT", path, json=body, headers=ADMIN)) == ["watermarkMs"]
    ok = http.request("PUT", path, json={**body, "watermarkMs": MAX_EPOCH_MS}, headers=ADMIN)
    assert ok.status_code == 204


# -- defect 14: SPEC's check order on every endpoint -----------------------------------------


def test_the_admin_api_checks_its_token_before_it_reads_the_body(http: InProcessHTTP) -> None:
    for path in ("/admin/v1/tenants", "/admin/v1/demo", "/admin/v1/tenants/acme/credentials"):
        assert raw(http, path, b"{not json").status_code == 401
        assert raw(http, path, b"{not json", Authorization="Bearer wrong").status_code == 401
        assert raw(http, path, b"{not json", **ADMIN).status_code == 400


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


# -- defects 3 and 4: times at the ends of the calendar ---------------------------------------


@pytest.mark.parametrize("start", [MAX_START_MS + 1, MAX_EPOCH_MS])
def test_a_start_past_what_renders_everywhere_is_refused_on_the_way_in(
    http: InProcessHTTP, acme: IssuedCredential, start: int
) -> None:
    pushed = {"tenantId": "acme", "calls": [make_call("edge", start)]}
    answer = http.post(PUSH, json=pushed, headers=auth(acme))
    assert answer.status_code == 400
    assert "startTime" in answer.text


FAR_ZONES = ["Europe/Paris", "Pacific/Kiritimati", "Etc/GMT+12", "Pacific/Chatham", "GMT"]


@pytest.mark.parametrize("start", [MAX_START_MS, MAX_START_MS - 3_600_000, 0, 1])
def test_a_call_at_the_calendars_ends_is_queryable_and_bucketable_in_far_zones(
    http: InProcessHTTP, acme: IssuedCredential, start: int
) -> None:
    pushed = {"tenantId": "acme", "calls": [make_call("edge", start)]}
    assert http.post(PUSH, json=pushed, headers=auth(acme)).status_code == 200
    for timezone in FAR_ZONES:
        body = {**QUERY, "timezone": timezone, "sortColumn": "callDate"}
        answer = http.post(DATA, json=body, headers=auth(acme))
        assert answer.status_code == 200, (timezone, answer.text)
        assert "edge" in {item["callId"] for item in answer.json()["data"]}
        for interval in ("hour", "day"):
            stats = http.post(STATS, json={**body, "interval": interval}, headers=auth(acme))
            assert stats.status_code in (200, 400), (timezone, interval, stats.text)
            if stats.status_code == 400:
                assert fields_of(stats) == ["interval"]


@pytest.mark.parametrize(
    "time_range",
    [
        "253402214400000-253402300799999",
        "253402297200000-253402300799999",
        "0-86399999",
        "0-3599999",
    ],
)
@pytest.mark.parametrize("interval", ["hour", "day"])
@pytest.mark.parametrize("timezone", FAR_ZONES)
def test_stats_over_a_window_at_the_calendars_ends_never_overflow(
    http: InProcessHTTP, acme: IssuedCredential, time_range: str, interval: str, timezone: str
) -> None:
    body = {"tenantId": "acme", "timeRange": time_range, "interval": interval}
    answer = http.post(STATS, json={**body, "timezone": timezone}, headers=auth(acme))
    assert answer.status_code == 200, answer.text
    buckets = answer.json()["buckets"]
    assert buckets and all(b["start"] < b["end"] for b in buckets)


# -- defect 15: leniency, settled --------------------------------------------------------------


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


def test_a_5000_digit_integer_is_a_field_error_not_broken_json(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    body = orjson.dumps({**QUERY, "rows": 0}).replace(b'"rows":0', b'"rows":' + b"9" * 5000)
    assert fields_of(raw(http, DATA, body, **auth(acme))) == ["rows"]
    push = b'{"tenantId":"acme","calls":' + b"1" * 5000 + b"}"
    assert fields_of(raw(http, PUSH, push, **auth(acme))) == ["calls"]


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "right/UTC", "posix/UTC"])
def test_zone_files_that_are_not_zones_are_refused(
    http: InProcessHTTP, acme: IssuedCredential, name: str
) -> None:
    assert name not in zone_names()
    answer = http.post(DATA, json={**QUERY, "timezone": name}, headers=auth(acme))
    assert fields_of(answer) == ["timezone"]


@pytest.mark.parametrize("name", ["GMT", "UTC", "Etc/GMT+12", "America/St_Johns", "US/Eastern"])
def test_iana_zones_links_and_the_references_aliases_are_accepted(
    http: InProcessHTTP, acme: IssuedCredential, name: str
) -> None:
    answer = http.post(DATA, json={**QUERY, "timezone": name}, headers=auth(acme))
    assert answer.status_code == 200, answer.text


def test_nfd_and_nfc_text_match_each_other_in_the_caller_search(
    http: InProcessHTTP, storage: Storage
) -> None:
    nfc, nfd = "Ren\u00e9e M\u00fcller", "Rene\u0301e Mu\u0308ller"
    calls = [make_call("c1", 1710000000000, callerName=nfc)]
    calls.append(make_call("c2", 1710000000001, callerName=nfd))
    credential = add_tenant(storage, "acme", "us", calls)
    for needle in ("ren\u00e9e", "rene\u0301e", "M\u00dcLLER", "MU\u0308LLER"):
        body = {**QUERY, "callerName": [needle]}
        answer = http.post(DATA, json=body, headers=auth(credential))
        assert answer.status_code == 200
        assert answer.json()["hits"] == 2, needle
