"""A small, independent model of SPEC.md's window, filter and ordering rules.

Written from SPEC.md alone, in plain Python over the import-shape dicts the tests insert, so
that the property tests can compare the real API against it. It deliberately shares no code
with the service.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

COUNT_FILTERS = {
    "agentHoldCount": "agentHoldCount",
    "agentMuteCount": "agentMuteCount",
    "transferCount": "transferCount",
}
DURATION_FILTERS = {
    "callDuration": "callDuration",
    "timeInQueue": "waitTime",
    "timeInIVR": "timeInIVR",
    "agentCallDuration": "agentCallHandlingDuration",
    "agentHoldDuration": "holdDuration",
}
LIST_FILTERS = {
    "tenantAgents": "agentId",
    "tenantQueues": "queueId",
    "tenantGroups": "agentGroup",
}
NUMERIC_COLUMNS = (
    "callDuration",
    "agentCallHandlingDuration",
    "timeInIVR",
    "holdDuration",
    "maximumHoldDuration",
    "waitTime",
    "abandonTime",
    "muteDuration",
    "transferCount",
)
SORT_COLUMNS = (
    "callDate",
    *NUMERIC_COLUMNS,
    "callerName",
    "callerNumber",
    "queueId",
    "agentId",
)
_UNITS = {"sec": 1000, "min": 60_000}


def _text(body: dict[str, Any], field: str) -> str | None:
    """A string field's value; null and "" count as absent (None)."""
    value = body.get(field)
    return None if value is None or value == "" else str(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [part for part in str(value).split(",") if part]


# ---------------------------------------------------------------------------- windows


def _local_date(now_ms: int, tz: ZoneInfo) -> date:
    return (_EPOCH + now_ms * _MS).astimezone(tz).date()


def _day_start_ms(day: date, tz: ZoneInfo) -> int:
    """The first instant of `day` in `tz` (local midnight, by the zone's real rules)."""
    local = datetime(day.year, day.month, day.day, tzinfo=tz)
    return (local.astimezone(UTC) - _EPOCH) // _MS


def duration_window(duration: str, tz_name: str, now_ms: int) -> tuple[int, int] | None:
    """Half-open [start, end) in epoch ms, or None for allhistory."""
    if duration == "allhistory":
        return None
    tz = ZoneInfo(tz_name)
    today = _local_date(now_ms, tz)
    if duration == "today":
        first, after = today, today + timedelta(days=1)
    elif duration == "yesterday":
        first, after = today - timedelta(days=1), today
    elif duration == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif duration == "month":
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"not a duration: {duration!r}")
    return _day_start_ms(first, tz), _day_start_ms(after, tz)


def _in_window(body: dict[str, Any], now_ms: int) -> Callable[[int], bool]:
    duration = _text(body, "duration")
    if duration is not None:
        window = duration_window(duration, _text(body, "timezone") or "GMT", now_ms)
        if window is None:
            return lambda start: True
        low, high = window
        return lambda start: low <= start < high
    text = _text(body, "timeRange")
    if text is None:
        raise ValueError("the body has no window")
    left, right = text.split("-")
    low, high = int(left.strip()), int(right.strip())
    return lambda start: low <= start <= high


# ---------------------------------------------------------------------------- filters


def _bounds(text: str, prefix: str) -> tuple[int, int]:
    head, _, rest = text.partition(":")
    if head != prefix:
        raise ValueError(f"{text!r} does not start with {prefix}:")
    x, y = rest.split(",")
    return int(x), int(y)


def _between(value: float, low: int, high: int) -> bool:
    return (low == -1 or low <= value) and (high == -1 or value <= high)


def _caller_matches(call: dict[str, Any], search: Any) -> bool:
    if search is None or search == [] or search == [""]:
        return True
    term = _caseless(search[0])
    name = _caseless(str(call.get("callerName") or ""))
    number = _caseless(str(call.get("callerNumber") or ""))
    return term in name or term in number


def _matches(call: dict[str, Any], body: dict[str, Any]) -> bool:
    if not _caller_matches(call, body.get("callerName")):
        return False
    for field, key in LIST_FILTERS.items():
        wanted = body.get(field)
        if wanted and not set(wanted) & set(_as_list(call.get(key))):
            return False
    channels = body.get("tenantChannels")
    if channels and str(call.get("dialedNumber") or "") not in channels:
        return False
    for field, key in COUNT_FILTERS.items():
        text = _text(body, field)
        if text is not None:
            low, high = _bounds(text, "range")
            if not _between(float(call.get(key) or 0), low, high):
                return False
    for field, key in DURATION_FILTERS.items():
        text = _text(body, field)
        if text is not None:
            period = text.partition(":")[0]
            low, high = _bounds(text, period)
            whole_units = int(float(call.get(key) or 0) // _UNITS[period])
            if not _between(whole_units, low, high):
                return False
    return True


# ---------------------------------------------------------------------------- ordering


def _caseless(text: str) -> str:
    """Unicode's canonical caseless form (NFD, casefold), composed again (NFC)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def sort_key(call: dict[str, Any], column: str) -> Any:
    """The value a call is ordered by for `column` (text case-insensitively)."""
    if column == "callDate":
        return int(call["startTime"])
    if column in NUMERIC_COLUMNS:
        return float(call.get(column) or 0)
    if column in ("callerName", "callerNumber"):
        return _caseless(str(call.get(column) or ""))
    if column in ("queueId", "agentId"):
        return ",".join(_as_list(call.get(column))).lower()
    raise ValueError(f"not a sort column: {column!r}")


def matching_ids(calls: list[dict[str, Any]], body: dict[str, Any], now_ms: int) -> list[str]:
    """The callIds matching `body`, in the order SPEC.md gives for the response."""
    in_window = _in_window(body, now_ms)
    found = [call for call in calls if in_window(int(call["startTime"])) and _matches(call, body)]
    column = body.get("sortColumn") or "callDate"
    descending = (body.get("sortOrder") or "desc") == "desc"
    found.sort(
        key=lambda call: (sort_key(call, column), int(call["startTime"]), call["callId"]),
        reverse=descending,
    )
    return [call["callId"] for call in found]
