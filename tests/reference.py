"""A small, independent model of SPEC.md's window, filter and ordering rules.

Written from SPEC.md alone, in plain Python over the import-shape dicts the tests insert, so
that the property tests can compare the real API against it. It deliberately shares no code
with the service, and where the service has an algorithm it uses another: windows come from
converting UTC to local time only (the service converts local midnights to UTC), ranges are
cut at their colon and comma (the service matches a regular expression), and numbers are
compared as exact decimals.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
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
#
# The service turns a local date into its midnight and that into UTC (local -> UTC). This
# model only converts UTC to local, which has one answer for every instant. It walks UTC hour
# by hour comparing the zone's offsets at both ends of each hour; while the offset holds, the
# local date grows with the instant, so the first instant of a day within such a stretch is
# plain arithmetic. An hour whose offsets differ is cut at the change, found by halving.

_HOUR_MS = 3_600_000


def _wall_clock(ms: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + ms * _MS).astimezone(tz)


def _local_date_at(ms: int, tz: ZoneInfo) -> date:
    """The calendar date on the wall clocks of `tz` at the instant `ms`."""
    return _wall_clock(ms, tz).date()


def _offset_ms(ms: int, tz: ZoneInfo) -> int:
    offset = _wall_clock(ms, tz).utcoffset()
    assert offset is not None
    return offset // _MS


def _steady_stretches(start: int, tz: ZoneInfo) -> list[tuple[int, int, int]]:
    """The hour [start, start + 1 h) as (first, after, offset) stretches of one offset each."""
    end = start + _HOUR_MS
    before, after = _offset_ms(start, tz), _offset_ms(end - 1, tz)
    if before == after:
        return [(start, end, before)]
    low, high = start, end - 1  # the offset changes in (low, high]: find the first new instant
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_ms(middle, tz) == before:
            low = middle
        else:
            high = middle
    return [(start, high, before), (high, end, _offset_ms(high, tz))]


def _first_instant_of(day: date, tz: ZoneInfo) -> int:
    """The earliest instant (ms) at which the local date in `tz` is `day` or later."""
    midnight = (datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH) // _MS
    start = midnight - 30 * _HOUR_MS  # no zone is 30 hours ahead of UTC
    while True:
        for first, after, offset in _steady_stretches(start, tz):
            # Local time is instant + offset here: the day has begun once that reaches midnight.
            candidate = max(first, midnight - offset)
            if candidate < after:
                return candidate
        start += _HOUR_MS


def _calendar_days(duration: str, today: date) -> tuple[date, date]:
    """The first day of the named period and the day after its last, from SPEC.md's words."""
    if duration == "today":
        return today, today + timedelta(days=1)
    if duration == "yesterday":
        return today - timedelta(days=1), today
    if duration == "week":  # Monday of this week to the Monday after
        monday = date.fromordinal(today.toordinal() - today.isoweekday() + 1)
        return monday, date.fromordinal(monday.toordinal() + 7)
    if duration == "month":  # the 1st of this month to the 1st of the next
        year, month = divmod(today.year * 12 + today.month, 12)  # the next month, 0-based
        return date(today.year, today.month, 1), date(year, month + 1, 1)
    raise ValueError(f"not a duration: {duration!r}")


def duration_window(duration: str, tz_name: str, now_ms: int) -> tuple[int, int] | None:
    """Half-open [start, end) in epoch ms, or None for allhistory."""
    if duration == "allhistory":
        return None
    tz = ZoneInfo(tz_name)
    first, after = _calendar_days(duration, _local_date_at(now_ms, tz))
    return _first_instant_of(first, tz), _first_instant_of(after, tz)


def _epoch_ms_text(text: str) -> int:
    """Epoch milliseconds written as digits, with spaces around them tolerated."""
    digits = text.strip(" ")
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise ValueError(f"{text!r} is not epoch milliseconds")
    return int(digits)


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
    left, dash, right = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r} is not START-END")
    first, last = _epoch_ms_text(left), _epoch_ms_text(right)
    return lambda start: first <= start <= last  # inclusive at both ends


# ---------------------------------------------------------------------------- filters
#
# "PREFIX:X,Y", read by cutting at the colon and the comma (the service uses a regular
# expression): integers, -1 unbounded on that side, inclusive at both ends.


def _bound(text: str) -> Decimal | None:
    """One end of a range: None for -1 (unbounded), else a non-negative integer."""
    if text == "-1":
        return None
    if not text or not all("0" <= c <= "9" for c in text):
        raise ValueError(f"{text!r} is not a non-negative integer or -1")
    return Decimal(text)


def _range(text: str, prefixes: tuple[str, ...]) -> tuple[str, Decimal | None, Decimal | None]:
    prefix, colon, numbers = text.partition(":")
    if not colon or prefix not in prefixes:
        raise ValueError(f"{text!r} does not start with one of {prefixes}")
    low, comma, high = numbers.partition(",")
    if not comma:
        raise ValueError(f"{text!r} has no comma")
    return prefix, _bound(low), _bound(high)


def _inside(value: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    return (low is None or low <= value) and (high is None or value <= high)


def _amount(call: dict[str, Any], key: str) -> Decimal:
    """A stored number exactly as written ("310887.0", 7, ""), missing as zero."""
    value = call.get(key)
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _typed_number(text: str) -> str | None:
    """docs/api.md's numbers as typed: the digits a number-only search compares, else None."""
    if not text or set(text) - set("0123456789+()-. ") or not set(text) & set("0123456789"):
        return None
    digits = "".join(char for char in text if char in "0123456789")
    national = digits.lstrip("0")
    return digits if len(national) < 7 else national[-10:]


def _caller_matches(call: dict[str, Any], search: Any) -> bool:
    if search is None or search == [] or search == [""]:
        return True
    term = caseless(search[0])
    name = caseless(str(call.get("callerName") or ""))
    number = caseless(str(call.get("callerNumber") or ""))
    digits = _typed_number(search[0])
    return term in name or term in number or (digits is not None and digits in number)


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
            _, low, high = _range(text, ("range",))
            if not _inside(_amount(call, key), low, high):
                return False
    for field, key in DURATION_FILTERS.items():
        text = _text(body, field)
        if text is not None:
            period, low, high = _range(text, tuple(_UNITS))
            whole_units = (_amount(call, key) / _UNITS[period]).to_integral_value(ROUND_FLOOR)
            if not _inside(whole_units, low, high):
                return False
    return True


# ---------------------------------------------------------------------------- ordering


def caseless(text: str) -> str:
    """Unicode's canonical caseless form (NFD, casefold), composed again (NFC)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def sort_key(call: dict[str, Any], column: str) -> Any:
    """The value a call is ordered by for `column` (text case-insensitively)."""
    if column == "callDate":
        return int(call["startTime"])
    if column in NUMERIC_COLUMNS:
        return float(call.get(column) or 0)
    if column in ("callerName", "callerNumber"):
        return caseless(str(call.get(column) or ""))
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
