"""recentCallStats and recentCallFacets: bucket edges, real HTTP over DuckDB, and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recent_calls.admin.local import LocalAdmin
from recent_calls.ingest.bulk import import_lines
from recent_calls.query.buckets import (
    MAX_BUCKETS,
    TooManyBuckets,
    bucket_edges,
    parse_stats_request,
)
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import bound, make_call
from tests.pg import fresh_database, postgres_server
from tests.support import LiveServer

HOUR = 3_600_000
NEW_YORK = ZoneInfo("America/New_York")
STATS = "/customerexperience/v1/recentCallStats"
FACETS = "/customerexperience/v1/recentCallFacets"


def ms(text: str) -> int:
    """Epoch ms of an ISO-8601 instant with its offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def stats(server: LiveServer, credential: Any, body: dict[str, Any], region: str = "us") -> Any:
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    return server.http.post(f"{STATS}/{region}", headers=headers, json=body)


def time_range(first: str, after: str) -> str:
    """A timeRange from `first` up to just before `after` (timeRange is inclusive)."""
    return f"{ms(first)}-{ms(after) - 1}"


# -- bucket edges (pure) ---------------------------------------------------------------------


def test_a_spring_forward_day_has_23_real_hours() -> None:
    edges = bucket_edges(
        ms("2024-03-10T00:00:00-05:00"), ms("2024-03-11T00:00:00-04:00"), "hour", NEW_YORK
    )
    assert len(edges) - 1 == 23
    assert {b - a for a, b in pairwise(edges)} == {HOUR}
    local_hours = [datetime.fromtimestamp(e / 1000, NEW_YORK).hour for e in edges[:-1]]
    assert 2 not in local_hours and local_hours[:4] == [0, 1, 3, 4]


def test_a_fall_back_day_has_25_real_hours_with_the_repeated_hour_twice() -> None:
    edges = bucket_edges(
        ms("2024-11-03T00:00:00-04:00"), ms("2024-11-04T00:00:00-05:00"), "hour", NEW_YORK
    )
    assert len(edges) - 1 == 25
    assert {b - a for a, b in pairwise(edges)} == {HOUR}
    local_hours = [datetime.fromtimestamp(e / 1000, NEW_YORK).hour for e in edges[:-1]]
    assert local_hours[:4] == [0, 1, 1, 2]


def test_days_across_a_dst_change_are_23_and_25_hours_long() -> None:
    spring = bucket_edges(
        ms("2024-03-09T00:00:00-05:00"), ms("2024-03-12T00:00:00-04:00"), "day", NEW_YORK
    )
    assert [(b - a) // HOUR for a, b in pairwise(spring)] == [24, 23, 24]
    autumn = bucket_edges(
        ms("2024-11-03T00:00:00-04:00"), ms("2024-11-04T00:00:00-05:00"), "day", NEW_YORK
    )
    assert [(b - a) // HOUR for a, b in pairwise(autumn)] == [25]


def test_hours_of_a_half_hour_zone_start_on_its_local_hours() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    edges = bucket_edges(ms("2024-01-01T10:10:00+05:30"), ms("2024-01-01T12:40:00+05:30"), "hour",
                         kolkata)  # fmt: skip
    assert [datetime.fromtimestamp(e / 1000, kolkata).strftime("%H:%M") for e in edges] == [
        "10:00",
        "11:00",
        "12:00",
        "13:00",
    ]


def test_a_window_not_on_bucket_edges_is_widened_to_whole_buckets() -> None:
    edges = bucket_edges(
        ms("2024-03-13T09:15:00-04:00"), ms("2024-03-13T11:00:00-04:00"), "hour", NEW_YORK
    )
    assert edges == [ms(f"2024-03-13T{h}:00:00-04:00") for h in ("09", "10", "11")]


def test_more_than_the_maximum_of_buckets_is_refused_before_any_work() -> None:
    with pytest.raises(TooManyBuckets):
        bucket_edges(0, 253_402_300_799_999, "hour", NEW_YORK)
    with pytest.raises(TooManyBuckets):
        bucket_edges(0, (MAX_BUCKETS + 1) * 86_400_000, "day", ZoneInfo("UTC"))
    assert len(bucket_edges(0, MAX_BUCKETS * 86_400_000, "day", ZoneInfo("UTC"))) == MAX_BUCKETS + 1


# -- the endpoint ----------------------------------------------------------------------------

DST_CALLS = [
    # 00:30 EST: handled 30 s, waited 10 s, one transfer.
    make_call("c1", ms("2024-03-10T00:30:00-05:00"), transferCount="1.0"),
    # 01:59 EST: abandoned after waiting 40 s, never handled.
    make_call(
        "c2",
        ms("2024-03-10T01:59:00-05:00"),
        agentCallHandlingDuration="0.0",
        waitTime="40000.0",
        abandonTime="40000.0",
        agentId="",
        callerName="Quinn Abandoner",
    ),
    # 01:59:59 EST, the last second before the clocks jump: handled 90 s.
    make_call("c3", ms("2024-03-10T01:59:59-05:00"), agentCallHandlingDuration="90000.0"),
    # 03:00 EDT, the first instant after the jump: two transfers.
    make_call("c4", ms("2024-03-10T03:00:00-04:00"), transferCount="2.0", waitTime="0.0"),
    # The next day, outside the DST day's window.
    make_call("c5", ms("2024-03-11T08:00:00-04:00")),
]


@pytest.fixture
def acme(server: LiveServer) -> Any:
    server.tenant("other", calls=[make_call("o1", ms("2024-03-10T00:30:00-05:00"))])
    return server.tenant("acme", calls=DST_CALLS)


def body(**fields: Any) -> dict[str, Any]:
    return {"tenantId": "acme", "timezone": "America/New_York", **fields}


def test_hourly_buckets_of_a_dst_day_hold_the_right_calls(server: LiveServer, acme: Any) -> None:
    window = time_range("2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00")
    response = stats(server, acme, body(timeRange=window, interval="hour"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["interval"] == "hour" and answer["timezone"] == "America/New_York"
    buckets = answer["buckets"]
    assert len(buckets) == 23
    assert answer["start"] == ms("2024-03-10T00:00:00-05:00")
    assert answer["end"] == ms("2024-03-11T00:00:00-04:00")
    assert [b["label"] for b in buckets[:3]] == [
        "2024-03-10T00:00:00-05:00",
        "2024-03-10T01:00:00-05:00",
        "2024-03-10T03:00:00-04:00",
    ]
    assert [b["calls"] for b in buckets[:4]] == [1, 2, 1, 0]
    assert sum(b["calls"] for b in buckets) == 4
    first, second, third, empty = buckets[:4]
    assert first == {
        "start": ms("2024-03-10T00:00:00-05:00"),
        "end": ms("2024-03-10T01:00:00-05:00"),
        "label": "2024-03-10T00:00:00-05:00",
        "calls": 1,
        "answered": 1,
        "avgHandleTime": 30000.0,
        "avgWaitTime": 10000.0,
        "abandoned": 0,
        "transfers": 1,
    }
    # The abandoned call was never handled: it is left out of the handle time, not of the wait.
    assert second["avgHandleTime"] == 90000.0
    assert second["avgWaitTime"] == 25000.0
    assert second["abandoned"] == 1
    assert third["transfers"] == 2 and third["avgWaitTime"] == 0.0
    assert empty["avgHandleTime"] is None and empty["avgWaitTime"] is None
    assert answer["totals"] == {
        "calls": 4,
        "answered": 3,
        "avgHandleTime": 50000.0,  # (30 + 90 + 30) s over the three handled calls
        "avgWaitTime": 15000.0,  # (10 + 40 + 10 + 0) s over four calls
        "abandoned": 1,
        "abandonRate": 0.25,
        "transfers": 3,
    }


def test_daily_buckets_follow_local_midnights(server: LiveServer, acme: Any) -> None:
    window = time_range("2024-03-09T00:00:00-05:00", "2024-03-12T00:00:00-04:00")
    answer = stats(server, acme, body(timeRange=window, interval="day")).json()
    assert [b["label"][:10] for b in answer["buckets"]] == [
        "2024-03-09",
        "2024-03-10",
        "2024-03-11",
    ]
    assert [(b["end"] - b["start"]) // HOUR for b in answer["buckets"]] == [24, 23, 24]
    assert [b["calls"] for b in answer["buckets"]] == [0, 4, 1]


def test_the_filters_of_recent_call_data_apply(server: LiveServer, acme: Any) -> None:
    window = time_range("2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00")
    answer = stats(server, acme, body(timeRange=window, callerName=["quinn"])).json()
    assert answer["totals"]["calls"] == 1 and answer["totals"]["abandoned"] == 1
    answer = stats(server, acme, body(timeRange=window, transferCount="range:1,-1")).json()
    assert answer["totals"]["calls"] == 2 and answer["totals"]["transfers"] == 3


def test_allhistory_spans_the_tenants_first_to_last_call(server: LiveServer, acme: Any) -> None:
    answer = stats(server, acme, body(duration="allhistory")).json()
    assert answer["interval"] == "day"  # the default
    assert [b["label"][:10] for b in answer["buckets"]] == ["2024-03-10", "2024-03-11"]
    assert answer["totals"]["calls"] == 5  # the other tenant's call is not counted


def test_a_tenant_without_calls_has_no_buckets(server: LiveServer) -> None:
    credential = server.tenant("empty")
    answer = stats(server, credential, {"tenantId": "empty", "duration": "allhistory"}).json()
    assert answer["buckets"] == [] and answer["start"] is None
    assert answer["totals"]["calls"] == 0 and answer["totals"]["abandonRate"] is None


def test_a_duration_window_is_bucketed_whole(server: LiveServer, acme: Any) -> None:
    # The frozen now is Wednesday 2024-03-13; this week runs from Monday the 11th.
    answer = stats(server, acme, body(duration="week")).json()
    assert len(answer["buckets"]) == 7
    assert answer["buckets"][0]["label"] == "2024-03-11T00:00:00-04:00"
    assert answer["totals"]["calls"] == 1


def test_paging_fields_are_optional_but_still_checked(server: LiveServer, acme: Any) -> None:
    assert stats(server, acme, body(duration="today", page=None)).status_code == 200
    response = stats(server, acme, body(duration="today", rows=0))
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["rows"]


def test_a_bad_interval_is_reported_with_every_other_bad_field(
    server: LiveServer, acme: Any
) -> None:
    response = stats(server, acme, body(duration="fortnight", interval="minute"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"duration", "interval"}
    message = response.json()["errors"][-1]["message"]
    assert '"hour" or "day"' in message


def test_too_many_buckets_is_a_400_naming_interval(server: LiveServer, acme: Any) -> None:
    response = stats(server, acme, body(timeRange="0-1710345600000", interval="hour"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "interval"
    assert "2000" in response.json()["errors"][0]["message"]


def test_checks_run_in_the_order_of_recent_call_data(server: LiveServer, acme: Any) -> None:
    url = f"{STATS}/us"
    assert server.http.post(f"{STATS}/eu", json=body()).status_code == 404
    assert server.http.post(url, json=body(duration="today")).status_code == 401
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    assert server.http.post(url, headers=headers, content=b"{").status_code == 415
    response = server.http.post(url, headers=headers, json={"tenantId": "other"})
    assert response.status_code == 400  # fields before the tenant binding
    response = server.http.post(
        url, headers=headers, json={"tenantId": "other", "duration": "today"}
    )
    assert response.status_code == 403
    forbidden = response.json()
    response = stats(server, acme, body(duration="today"), region="uk")
    assert response.status_code == 403 and response.json() == forbidden


def test_facets_list_the_values_the_tenant_has(server: LiveServer, acme: Any) -> None:
    server.tenant(
        "multi",
        calls=[
            make_call("m1", 1, agentId="agB,agA", queueId="200,100", agentGroup="7"),
            make_call("m2", 2, agentId="", dialedNumber="18005551111"),
        ],
    )
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    response = server.http.post(f"{FACETS}/us", headers=headers, json={"tenantId": "acme"})
    assert response.status_code == 200
    assert response.json() == {
        "tenantId": "acme",
        "agents": ["agA"],
        "queues": ["100"],
        "groups": ["10"],
        "channels": ["18005550000"],
        "timezone": None,
    }
    response = server.http.post(f"{FACETS}/us", headers=headers, json={"tenantId": "multi"})
    assert response.status_code == 403
    assert server.http.post(f"{FACETS}/us", json={"tenantId": "acme"}).status_code == 401
    response = server.http.post(f"{FACETS}/us", headers=headers, json={"tenantId": ""})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "tenantId"


def test_the_openapi_document_describes_the_extensions(server: LiveServer) -> None:
    document = server.http.get("/openapi.json").json()
    operation = document["paths"]["/customerexperience/{version}/recentCallStats/{region}"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["interval"]["enum"] == ["hour", "day"]
    assert schema["required"] == ["tenantId"]
    assert "StatsResponse" in document["components"]["schemas"]
    assert "/customerexperience/{version}/recentCallFacets/{region}" in document["paths"]
    assert "/" not in document["paths"]


def test_the_page_and_its_files_are_served_with_a_strict_policy(server: LiveServer) -> None:
    page = server.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script" in page.text and "onclick" not in page.text
    script = server.http.get("/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert server.http.get("/static/missing.js").status_code == 404
    assert server.http.get("/static/..%2Fapp.py").status_code == 404


# -- both engines ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_server() -> str:
    return postgres_server()


@pytest.fixture
def pg(pg_server: str) -> Iterator[Storage]:
    with fresh_database(pg_server) as url:
        store = open_storage(url)
        yield store
        store.close()


NOW = 1710345600000


@pytest.mark.parametrize(
    "fields",
    [
        {"timeRange": "1710046800000-1710129599999", "interval": "hour"},
        {"duration": "allhistory", "interval": "hour", "callerName": ["pat"]},
        {"duration": "month", "tenantQueues": ["100"], "transferCount": "range:0,1"},
    ],
)
def test_postgresql_answers_what_duckdb_answers(
    storage: Storage, pg: Storage, fields: dict[str, Any]
) -> None:
    answers = []
    for store in (storage, pg):
        store.create_tenant("acme", "us")
        import_lines(store, "acme", DST_CALLS, workers=1)
        query, interval, _ = parse_stats_request(body(**fields), NOW)
        answers.append(store.stats(bound("acme"), query, interval))
        assert store.facets(bound("acme")).agents == ["agA"]
    assert answers[0] == answers[1]
    assert answers[0].totals.calls > 0


def test_facets_name_the_tenants_zone_once_it_is_set(server: LiveServer, acme: Any) -> None:
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    ask = {"headers": headers, "json": {"tenantId": "acme"}}
    assert server.http.post(f"{FACETS}/us", **ask).json()["timezone"] is None
    LocalAdmin(server.storage).set_tenant("acme", timezone="Europe/London")
    # The server's cached tenant is stale after the change: the next answer has the new zone.
    assert server.http.post(f"{FACETS}/us", **ask).json()["timezone"] == "Europe/London"
