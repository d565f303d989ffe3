"""Request validation: accepted forms, and every rejection naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from recent_calls.errors import InvalidRequest
from recent_calls.query.request import CountRange, DurationRange, parse_request

BASE: dict[str, Any] = {"tenantId": "acme", "page": 1, "rows": 10, "duration": "today"}


def fields_rejected(body: Any) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body, 0)
    return [error.field for error in caught.value.errors]


@pytest.mark.parametrize(
    ("field", "value", "parsed"),
    [
        ("page", "2", 2),
        ("page", 2.0, 2),
        ("page", " 3 ", 3),
        ("rows", "5000", 5000),
        ("rows", 1, 1),
        ("timezone", "", None),
        ("timezone", None, None),
        ("callerName", [], ()),
        ("callerName", None, None),
        ("transferCount", "range:0,-1", CountRange(0, None)),
        ("transferCount", "Range: 1, 10", CountRange(1, 10)),
        ("transferCount", "", None),
        ("callDuration", "sec:60,-1", DurationRange(1000, 60, None)),
        ("agentCallDuration", "min:5,-1", DurationRange(60_000, 5, None)),
        ("callDuration", "Sec: 60, 300", DurationRange(1000, 60, 300)),
        ("sortOrder", "ASC", "asc"),
        ("sortColumn", "", None),
        ("somethingUnknown", 1, None),
    ],
)
def test_accepted_forms(field: str, value: Any, parsed: Any) -> None:
    query = parse_request({**BASE, field: value}, 0)
    assert getattr(query.request, field, None) == parsed


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("page", 0),
        ("page", True),
        ("page", 1.5),
        ("page", "one"),
        ("page", "1e3"),
        ("page", [1]),
        ("rows", 0),
        ("rows", 5001),
        ("rows", "-1"),
        ("tenantId", ""),
        ("tenantId", 42),
        ("duration", "fortnight"),
        ("duration", 7),
        ("timezone", "Mars/Base"),
        ("timezone", 5),
        ("callerName", ["a", "b"]),
        ("callerName", "a"),
        ("callerName", [1]),
        ("tenantAgents", "ag1"),
        ("tenantQueues", [1, 2]),
        ("tenantChannels", ["ok", "a\x00b"]),
        ("agentHoldCount", "range:2"),
        ("agentHoldCount", "sec:1,2"),
        ("agentMuteCount", "range:-2,5"),
        ("transferCount", "range:5,1"),
        ("transferCount", 5),
        ("callDuration", "hours:1,2"),
        ("timeInQueue", "sec:a,b"),
        ("timeInIVR", "sec:1.5,2"),
        ("agentHoldDuration", "min:10,9"),
        ("sortColumn", "tenantId"),
        ("sortOrder", "sideways"),
    ],
)
def test_rejected_forms_name_their_field(field: str, value: Any) -> None:
    assert fields_rejected({**BASE, field: value}) == [field]


def test_missing_required_fields_and_window_are_all_reported() -> None:
    assert fields_rejected({}) == ["tenantId", "page", "rows", "duration"]


def test_a_body_that_is_not_an_object_is_reported_on_body() -> None:
    assert fields_rejected([BASE]) == ["body"]


def test_duration_wins_and_a_malformed_time_range_beside_it_is_ignored() -> None:
    query = parse_request({**BASE, "duration": "allhistory", "timeRange": "nonsense"}, 0)
    assert query.window.start_ms is None and query.window.end_ms is None


def test_time_range_is_checked_when_it_is_the_window() -> None:
    body = {**BASE, "duration": None, "timeRange": "20-10"}
    assert fields_rejected(body) == ["timeRange"]
    assert fields_rejected({**body, "timeRange": 12}) == ["timeRange"]


def test_defaults() -> None:
    query = parse_request(BASE, 0)
    assert query.timezone == "GMT"
    assert (query.sort_column, query.descending, query.offset) == ("callDate", True, 0)
    assert parse_request({**BASE, "page": 3}, 0).offset == 20
