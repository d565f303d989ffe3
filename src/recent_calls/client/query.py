"""What to ask for: the window, the timezone and the filters of a recentCallData request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from recent_calls.fields import COUNT_FILTERS, DURATION_FILTERS, OUTCOMES, option_name

Duration = Literal["today", "yesterday", "week", "month", "allhistory"]
"""`fields.DURATIONS`, spelled out for type checkers (tests/test_fields.py pins the two)."""
Outcome = Literal["answered", "abandoned", "other"]
"""`fields.OUTCOMES`: answered (an agent handled it), abandoned, or other (neither)."""
SortOrder = Literal["asc", "desc"]
Instant = int | datetime
"""Epoch milliseconds (UTC), or an aware datetime."""


def _bound(value: int | None, name: str) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None (unbounded)")
    return value


def count_range(low: int | None = None, high: int | None = None) -> str:
    """A count filter, inclusive: `count_range(2)` is "range:2,-1" (two or more)."""
    lo, hi = _bound(low, "low"), _bound(high, "high")
    if hi != -1 and lo > hi:
        raise ValueError(f"low {lo} is above high {hi}")
    return f"range:{lo},{hi}"


def duration_range(
    low: int | None = None, high: int | None = None, unit: Literal["sec", "min"] = "sec"
) -> str:
    """A duration filter in whole seconds or minutes, inclusive: `duration_range(60)` is
    "sec:60,-1" (a minute or longer); `duration_range(5, unit="min")` is "min:5,-1"."""
    if unit not in ("sec", "min"):
        raise ValueError('unit must be "sec" or "min"')
    lo, hi = _bound(low, "low"), _bound(high, "high")
    if hi != -1 and lo > hi:
        raise ValueError(f"low {lo} is above high {hi}")
    return f"{unit}:{lo},{hi}"


def epoch_ms(instant: Instant) -> int:
    """Epoch milliseconds of an aware datetime (or of epoch milliseconds, unchanged)."""
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ValueError("a datetime for a time range must be aware (carry a tzinfo)")
        delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
        return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    return int(instant)


_BODY_NAMES = {
    **{option_name(name): name for name in (*COUNT_FILTERS, *DURATION_FILTERS)},
    "sort_column": "sortColumn",
    "sort_order": "sortOrder",
}
_LIST_NAMES = {
    "agents": "tenantAgents",
    "queues": "tenantQueues",
    "groups": "tenantGroups",
    "channels": "tenantChannels",
}


@dataclass(frozen=True)
class Query:
    """What to ask for: a window, a timezone and filters (all ANDed; None or empty: any).

    With neither `duration` nor `time_range`, the whole history is asked for. `time_range`
    is inclusive at both ends. Count filters take `count_range(...)`, duration filters
    `duration_range(...)` (or the API's own strings). `outcomes` is this project's extension:
    a call matches any of them.
    """

    duration: Duration | None = None
    time_range: tuple[Instant, Instant] | None = None
    timezone: str = "GMT"
    caller: str | None = None
    agents: Sequence[str] = ()
    queues: Sequence[str] = ()
    groups: Sequence[str] = ()
    channels: Sequence[str] = ()
    outcomes: Sequence[Outcome] = ()
    agent_hold_count: str | None = None
    agent_mute_count: str | None = None
    transfer_count: str | None = None
    call_duration: str | None = None
    time_in_queue: str | None = None
    time_in_ivr: str | None = None
    agent_call_duration: str | None = None
    agent_hold_duration: str | None = None
    sort_column: str | None = None
    sort_order: SortOrder | None = None

    def window(self) -> dict[str, str]:
        """The request's window fields."""
        if self.duration is not None:
            return {"duration": self.duration}
        if self.time_range is not None:
            start, end = (epoch_ms(instant) for instant in self.time_range)
            return {"timeRange": f"{start}-{end}"}
        return {"duration": "allhistory"}

    def body(self, tenant_id: str, page: int = 1, rows: int = 500) -> dict[str, Any]:
        """The JSON body of a recentCallData request for one page."""
        body: dict[str, Any] = {"tenantId": tenant_id, "page": page, "rows": rows}
        body.update(self.window())
        body["timezone"] = self.timezone
        if self.caller:
            body["callerName"] = [self.caller]
        for attribute, name in _LIST_NAMES.items():
            values = getattr(self, attribute)
            if values:
                if isinstance(values, str):
                    raise TypeError(f"{attribute} must be a sequence of strings, not a string")
                body[name] = list(values)
        if self.outcomes:
            if isinstance(self.outcomes, str):
                raise TypeError("outcomes must be a sequence of strings, not a string")
            unknown = [value for value in self.outcomes if value not in OUTCOMES]
            if unknown:
                raise ValueError(f"outcomes: {unknown[0]!r} is not one of {', '.join(OUTCOMES)}")
            body["outcome"] = list(self.outcomes)
        for attribute, name in _BODY_NAMES.items():
            value = getattr(self, attribute)
            if value is not None:
                body[name] = value
        return body
