"""Time windows: `duration` names and `timeRange` strings to half-open epoch-ms intervals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@dataclass(frozen=True)
class Window:
    """Calls whose start is in [start_ms, end_ms); None means unbounded on that side."""

    start_ms: int | None
    end_ms: int | None


ALL_HISTORY = Window(None, None)


# Files of the zone database that are not zones a caller may name: the system's own setting,
# tzdata's placeholder, the POSIX rules template, and the copies under posix/ and right/ (the
# latter count leap seconds, which epoch milliseconds do not).
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
ALIASES = frozenset({"GMT", "UTC"})  # the reference's default and its usual spelling


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The names `timezone` accepts: the IANA zones and links (`available_timezones()`),
    without the entries above, plus the aliases the reference uses."""
    names = {
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    }
    return frozenset(names | ALIASES)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; KeyError when there is none."""
    if name not in zone_names():
        raise KeyError(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise KeyError(name) from None


def _local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    # When a zone skips local midnight (a DST change at 00:00), fold=0 takes the offset in force
    # before the gap, which lands on the transition instant: the first instant of that day.
    return int(datetime.combine(day, time(0, 0), tzinfo=tz).timestamp() * 1000)


def duration_window(duration: str, tz: ZoneInfo, now_ms: int) -> Window:
    """The window named by `duration`, in zone `tz`, around the instant `now_ms`."""
    if duration == "allhistory":
        return ALL_HISTORY
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
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
        raise ValueError(f"unknown duration {duration!r}")
    return Window(_local_midnight_ms(first, tz), _local_midnight_ms(after, tz))


MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_TIME_RANGE = re.compile(r"\s*([0-9]{1,15})\s*-\s*([0-9]{1,15})\s*", re.ASCII)


def parse_time_range(value: str) -> Window:
    """Read "START-END" (epoch ms, inclusive at both ends) into a half-open window."""
    match = _TIME_RANGE.fullmatch(value)
    if match is None:
        raise ValueError(
            'expected "START-END" in epoch milliseconds, e.g. "1665580905000-1665598905000"'
        )
    start, end = int(match[1]), int(match[2])
    if start > MAX_EPOCH_MS or end > MAX_EPOCH_MS:
        raise ValueError(f"epoch milliseconds must not exceed {MAX_EPOCH_MS} (year 9999)")
    if start > end:
        raise ValueError(f"START ({start}) is after END ({end})")
    return Window(start, end + 1)
