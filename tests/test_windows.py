"""Time windows: named durations in any zone (DST days included) and timeRange strings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.query.windows import (
    ALL_HISTORY,
    Window,
    duration_window,
    parse_time_range,
    zone,
    zone_names,
)
from tests.endpoints import DATA, QUERY, auth, fields_of
from tests.support import InProcessHTTP


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


HOUR = 3_600_000


@pytest.mark.parametrize(
    ("duration", "zone_name", "now", "start", "end"),
    [
        # New York springs forward on 2024-03-10: that day has 23 hours.
        (
            "today",
            "America/New_York",
            "2024-03-10T12:00:00-04:00",
            "2024-03-10T00:00:00-05:00",
            "2024-03-11T00:00:00-04:00",
        ),
        # ... and falls back on 2024-11-03: 25 hours.
        (
            "today",
            "America/New_York",
            "2024-11-03T23:30:00-05:00",
            "2024-11-03T00:00:00-04:00",
            "2024-11-04T00:00:00-05:00",
        ),
        (
            "yesterday",
            "America/New_York",
            "2024-03-11T00:30:00-04:00",
            "2024-03-10T00:00:00-05:00",
            "2024-03-11T00:00:00-04:00",
        ),
        # London: BST starts 2024-03-31 01:00 GMT.
        (
            "today",
            "Europe/London",
            "2024-03-31T10:00:00+01:00",
            "2024-03-31T00:00:00+00:00",
            "2024-04-01T00:00:00+01:00",
        ),
        (
            "week",
            "Europe/London",
            "2024-03-31T10:00:00+01:00",
            "2024-03-25T00:00:00+00:00",
            "2024-04-01T00:00:00+01:00",
        ),
        (
            "month",
            "Europe/London",
            "2024-10-27T12:00:00+00:00",
            "2024-10-01T00:00:00+01:00",
            "2024-11-01T00:00:00+00:00",
        ),
        # Auckland: NZDT ends 2024-04-07 03:00 -> 02:00; starts 2024-09-29 02:00 -> 03:00.
        (
            "today",
            "Pacific/Auckland",
            "2024-04-07T12:00:00+12:00",
            "2024-04-07T00:00:00+13:00",
            "2024-04-08T00:00:00+12:00",
        ),
        (
            "today",
            "Pacific/Auckland",
            "2024-09-29T12:00:00+13:00",
            "2024-09-29T00:00:00+12:00",
            "2024-09-30T00:00:00+13:00",
        ),
        (
            "week",
            "Pacific/Auckland",
            "2024-09-29T12:00:00+13:00",
            "2024-09-23T00:00:00+12:00",
            "2024-09-30T00:00:00+13:00",
        ),
        # A Monday is the first day of its own week; December's month ends in January.
        (
            "week",
            "GMT",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00+00:00",
            "2024-01-08T00:00:00+00:00",
        ),
        (
            "month",
            "GMT",
            "2024-12-31T23:59:59+00:00",
            "2024-12-01T00:00:00+00:00",
            "2025-01-01T00:00:00+00:00",
        ),
        # The same instant is a different local day in different zones.
        (
            "today",
            "Pacific/Auckland",
            "2024-03-13T16:00:00+00:00",
            "2024-03-14T00:00:00+13:00",
            "2024-03-15T00:00:00+13:00",
        ),
    ],
)
def test_named_windows_follow_real_zone_rules(
    duration: str, zone_name: str, now: str, start: str, end: str
) -> None:
    window = duration_window(duration, ZoneInfo(zone_name), ms(now))
    assert window == Window(ms(start), ms(end))


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = duration_window("today", ZoneInfo("America/New_York"), ms("2024-03-10T12:00:00-04:00"))
    autumn = duration_window("today", ZoneInfo("Europe/London"), ms("2024-10-27T12:00:00+00:00"))
    assert spring.end_ms is not None and spring.start_ms is not None
    assert autumn.end_ms is not None and autumn.start_ms is not None
    assert spring.end_ms - spring.start_ms == 23 * HOUR
    assert autumn.end_ms - autumn.start_ms == 25 * HOUR


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant() -> None:
    # Santiago skipped 2022-09-11 00:00 (clocks went to 01:00).
    window = duration_window("today", ZoneInfo("America/Santiago"), ms("2022-09-11T12:00:00-03:00"))
    assert window.start_ms == ms("2022-09-11T01:00:00-03:00")


def test_all_history_is_unbounded() -> None:
    assert duration_window("allhistory", ZoneInfo("GMT"), 0) == ALL_HISTORY


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("1665580905000-1665598905000", Window(1665580905000, 1665598905001)),
        ("1665580905000 - 1665598905000", Window(1665580905000, 1665598905001)),
        (" 5-5 ", Window(5, 6)),
    ],
)
def test_time_range_is_inclusive_and_tolerates_spaces(text: str, window: Window) -> None:
    assert parse_time_range(text) == window


@pytest.mark.parametrize(
    "text", ["", "5", "5-", "-5", "a-b", "5-4", "1.5-2", "٣-٤", "1-99999999999999999", "1--2"]
)
def test_malformed_time_ranges_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_range(text)


@pytest.mark.parametrize("name", ["", "Mars/Base", "../etc/passwd", "/etc/localtime", "a\x00b"])
def test_unknown_zones_are_rejected(name: str) -> None:
    with pytest.raises(KeyError):
        zone(name)


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
