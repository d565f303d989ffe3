"""Rendering: typed rows to the reference's keys, order and JSON types, dates in any zone."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.render import (
    DATA_KEYS,
    LocalDates,
    item_parts,
    render_items,
    render_response,
    render_row,
)
from recent_calls.ingest.records import MAX_START_MS
from recent_calls.query.request import parse_request
from recent_calls.query.windows import zone
from recent_calls.storage.base import SearchResult, Tenant
from recent_calls.storage.columns import PAGE_SELECT, CallColumns, CallRow
from tests.calls import make_call
from tests.endpoints import DATA, FAR_ZONES, PUSH, QUERY, STATS, auth, fields_of
from tests.support import InProcessHTTP

ROW = CallRow(
    call_id="c-1",
    start_ms=1_710_054_000_000,  # 2024-03-10T07:00:00Z: 03:00 EDT, just after the gap
    call_duration=335566,
    agent_handling=310887.0,
    time_in_ivr=19657.5,
    hold_duration=0.0,
    max_hold=0.0,
    wait_time=1234.0,
    abandon_time=0.0,
    transfer_count=2,
    mute_duration=10462,
    queue_id="2583,2584",
    agent_id="agA",
    agent_group="g1",
    transaction_id="t1 t2",
    caller_name="Ömer",
    caller_number="+17325551212",
    dialed_number="+18005550100",
    schedule_hours="Open",
    call_type="Inbound",
    call_sub_type="",
    hungup_by="Caller",
    post_call_survey="[]",
    voice_comment="{}",
    total_score="",
    destination_number="",
    voice_comment_file_names="",
    caller_phone_number="+17325551212",
)


def test_a_row_renders_every_reference_key_in_order() -> None:
    item = render_row(ROW, "acme", LocalDates(zone("America/New_York")))
    assert tuple(item) == DATA_KEYS
    assert item["callId"] == "c-1" and item["tenantId"] == "acme"


def test_numbers_take_the_reference_json_types() -> None:
    item = render_row(ROW, "acme", LocalDates(zone("GMT")))
    assert item["callDuration"] == "335566"
    assert item["agentCallHandlingDuration"] == "310887.0"
    assert item["timeInIVR"] == "19657.5"
    assert item["transferCount"] == "2.0"
    assert item["muteDuration"] == 10462 and isinstance(item["muteDuration"], int)
    strings = [key for key in DATA_KEYS if key != "muteDuration"]
    assert all(isinstance(item[key], str) for key in strings)


@pytest.mark.parametrize(
    ("timezone", "date", "time"),
    [
        ("GMT", "03/10/2024", "07:00:00"),
        ("America/New_York", "03/10/2024", "03:00:00"),
        ("Asia/Kolkata", "03/10/2024", "12:30:00"),
        ("Pacific/Chatham", "03/10/2024", "20:45:00"),
        ("Pacific/Kiritimati", "03/10/2024", "21:00:00"),
    ],
)
def test_dates_are_local_to_the_response_zone(timezone: str, date: str, time: str) -> None:
    item = render_row(ROW, "acme", LocalDates(zone(timezone)))
    assert (item["callDateOnly"], item["callTime"]) == (date, time)
    assert item["callDate"] == f"{date} {time}"


def test_parts_encoded_one_at_a_time_an_empty_one_among_them_are_the_page_rendered_whole() -> None:
    """`item_parts` encodes each part's items; `render_response` puts them where the page's
    items go, byte for byte: an empty part adds no comma, a quote in a name stays escaped."""
    query = parse_request(
        {"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory", "timezone": "UTC"}, 0
    )
    rows = [ROW, ROW._replace(call_id='c-2 "data":[]', caller_name='"data":[]'), ROW]
    each = item_parts("acme", "UTC")
    parts = tuple(each(CallColumns.of_rows(part)) for part in (rows[:1], [], rows[1:], []))
    assert parts[1] == parts[3] == b""
    tenant = Tenant("acme", "us", 0)
    whole = render_response(query, tenant, SearchResult.of_rows(3, rows))
    assert render_response(query, tenant, SearchResult(3, parts=parts)) == whole
    assert [item["callId"] for item in orjson.loads(whole)["data"]] == [
        "c-1",
        'c-2 "data":[]',
        "c-1",
    ]


def test_a_second_before_a_dst_gap_keeps_the_old_offset() -> None:
    before = ROW._replace(start_ms=1_710_053_999_000)  # 01:59:59 EST
    item = render_row(before, "acme", LocalDates(zone("America/New_York")))
    assert item["callTime"] == "01:59:59"


def test_the_response_has_the_reference_keys_in_order() -> None:
    query = parse_request(
        {"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory", "timezone": "UTC"}, 0
    )
    answer: dict[str, Any] = orjson.loads(
        render_response(query, Tenant("acme", "us", 0), SearchResult.of_rows(7, [ROW]))
    )
    assert list(answer) == [
        "hits", "alertBellCount", "sortColumn", "data", "autoRefresh", "columns", "timezone",
        "sortOrder", "page", "rows",
    ]  # fmt: skip
    assert answer["hits"] == 7 and answer["data"][0]["tenantId"] == "acme"
    assert answer["sortColumn"] is None and answer["columns"] == [] and answer["rows"] == 5


def test_the_page_select_list_follows_the_row_type() -> None:
    names = [part.split(" AS ")[-1] for part in re.split(r", (?!')", PAGE_SELECT)]
    assert names == list(CallRow._fields)


# From before 1970 to past the calendar's end, with DST changes of several zones in between.
_STARTS = st.one_of(
    st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999),
    st.integers(min_value=1_710_050_000_000, max_value=1_710_060_000_000),  # a US gap
    st.integers(min_value=1_730_592_000_000, max_value=1_730_602_000_000),  # a US fold
)


@settings(max_examples=200, deadline=None)
@given(
    starts=st.lists(_STARTS, min_size=1, max_size=40),
    numbers=st.lists(st.floats(min_value=0, max_value=1e15), min_size=6, max_size=6),
    timezone=st.sampled_from(["America/New_York", "Europe/London", "Pacific/Kiritimati", "GMT"]),
)
def test_a_page_renders_each_call_as_it_renders_alone(
    starts: list[int], numbers: list[float], timezone: str
) -> None:
    # A page is rendered a column at a time, sharing its caches across rows: each item must
    # still be the one that call gets when it is rendered by itself, in a fresh zone cache.
    rows = [
        ROW._replace(call_id=f"c{i}", start_ms=start, agent_handling=numbers[i % 6],
                     wait_time=numbers[(i + 1) % 6], call_duration=i * 1001)
        for i, start in enumerate(starts)
    ]  # fmt: skip
    page = render_items(CallColumns.of_rows(rows), "acme", LocalDates(zone(timezone)))
    alone = [render_row(row, "acme", LocalDates(zone(timezone))) for row in rows]
    assert [msgspec.structs.asdict(item) for item in page] == alone
    for item, row in zip(alone, rows, strict=True):
        assert item["callDate"] == f"{item['callDateOnly']} {item['callTime']}"
        assert item["agentCallHandlingDuration"] == f"{row.agent_handling:.1f}"


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
