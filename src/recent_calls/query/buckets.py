"""The stats compiler: bucket edges for a window, the SQL that aggregates calls into them, and
the summary of what it answers.

Pure: no I/O. Buckets are local hours or days of the request's timezone, found with real zone
rules in Python (a day of a DST change is 23 or 25 hours long; an hour is always a real hour),
then handed to the database as a list of edges. The WHERE clause is recentCallData's own, which
storage starts from the tenant's scope; `Storage.stats` runs what this compiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.query.breakdowns import Grouping, parse_grouping
from recent_calls.query.filters import Where
from recent_calls.query.request import CallQuery, parse_request
from recent_calls.query.responses import StatsBucket, StatsResponse, StatsTotals
from recent_calls.query.windows import zone

INTERVALS = ("hour", "day")
MAX_BUCKETS = 2000
_NOMINAL_MS = {"hour": 3_600_000, "day": 86_400_000}


class TooManyBuckets(ValueError):
    """The window holds more buckets of the interval than one answer may."""


@dataclass(frozen=True)
class StatsQuery:
    """What the stats compiler needs: the SQL, its parameters, and the edges it buckets by."""

    sql: str
    params: dict[str, Any]
    edges: list[int]


def _instant_ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def _starts_of(day: date, interval: str, tz: ZoneInfo) -> list[int]:
    """The instants in `day` (local) where an hour or a day of `tz` begins; an instant whose
    local time is past the calendar's ends (year 1 or 9999) is left out."""
    found = []
    hours = range(1) if interval == "day" else range(24)
    folds = (0,) if interval == "day" else (0, 1)
    for hour in hours:
        for fold in folds:
            wall = datetime.combine(day, time(hour), tzinfo=tz).replace(fold=fold)
            try:
                instant = _instant_ms(wall)
                local = datetime.fromtimestamp(instant / 1000, tz)
            except (OverflowError, ValueError, OSError):
                continue
            if interval == "day":
                # fold=0 in a gap at midnight takes the offset before it: the day's first instant.
                found.append(instant)
            elif local.minute == 0 and local.second == 0:
                # A wall time in a gap maps to an instant that is not on the hour, or to one that
                # another wall time already gives; a repeated hour gives two real hours.
                found.append(instant)
    return found


def _local_date(epoch_ms: int, tz: ZoneInfo) -> date:
    """The local date of an instant; date.min or date.max when it is past the calendar's ends."""
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, tz).date()
    except (OverflowError, ValueError, OSError):
        return date.min if epoch_ms < 0 else date.max


def _check_nominal(start_ms: int, end_ms: int, interval: str) -> None:
    nominal = (end_ms - start_ms) // _NOMINAL_MS[interval]
    if nominal > MAX_BUCKETS + 2:  # bounded before any work; days are 23..25 hours long
        raise TooManyBuckets(f"the window holds about {nominal} {interval}s")


def bucket_edges(start_ms: int, end_ms: int, interval: str, tz: ZoneInfo) -> list[int]:
    """Edges e0 < e1 < ... < en of the local hours or days that cover [start_ms, end_ms).

    The first bucket begins at or before `start_ms`, the last ends at or after `end_ms`;
    TooManyBuckets when there would be more than MAX_BUCKETS.
    """
    if interval not in _NOMINAL_MS:
        raise ValueError(f"unknown interval {interval!r}")
    if end_ms <= start_ms:
        raise ValueError("the window is empty")
    _check_nominal(start_ms, end_ms, interval)
    first = _local_date(start_ms, tz)
    last = _local_date(end_ms - 1, tz)
    # A day before the first and after the last, where the calendar has them (years 1..9999).
    low = -1 if first > date.min else 0
    high = (last - first).days + (2 if last < date.max else 1)
    days = [first + timedelta(days=n) for n in range(low, high)]
    candidates = sorted({ms for day in days for ms in _starts_of(day, interval, tz)})
    before = [ms for ms in candidates if ms <= start_ms]
    after = [ms for ms in candidates if ms >= end_ms]
    edges = [before[-1] if before else start_ms]
    edges.extend(ms for ms in candidates if start_ms < ms < end_ms)
    edges.append(after[0] if after else end_ms)
    if len(edges) - 1 > MAX_BUCKETS:
        raise TooManyBuckets(f"the window holds {len(edges) - 1} {interval}s")
    return edges


_INTERVAL_EXPECTED = "expected " + " or ".join(f'"{name}"' for name in INTERVALS)


def _interval_of(body: Any) -> tuple[str, list[FieldError]]:
    value = body.get("interval") if isinstance(body, dict) else None
    if value is None or value == "":
        return "day", []
    if isinstance(value, str) and value in INTERVALS:
        return value, []
    shown = repr(value[:40]) if isinstance(value, str) else f"a {type(value).__name__}"
    return "day", [FieldError("interval", f"{shown} is not a known value; {_INTERVAL_EXPECTED}")]


def parse_stats_request(body: Any, now_ms: int) -> tuple[CallQuery, str, Grouping | None]:
    """The query, interval and breakdown of a recentCallStats body; InvalidRequest naming every
    bad field at once. Paging does not apply to a whole-window aggregate: page and rows may be
    absent."""
    interval, errors = _interval_of(body)
    grouping, grouping_errors = parse_grouping(body)
    errors += grouping_errors
    if isinstance(body, dict):
        paging = {name: 1 if body.get(name) is None else body[name] for name in ("page", "rows")}
        body = {**body, **paging}
    try:
        query = parse_request(body, now_ms)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.errors + errors) from None
    if errors:
        raise InvalidRequest(errors)
    return query, interval, grouping


def too_many_buckets(exc: TooManyBuckets) -> InvalidRequest:
    """The 400 for a window with more buckets than one answer may hold."""
    reason = f"{exc}, more than {MAX_BUCKETS} buckets; choose day or a shorter window"
    return InvalidRequest([FieldError("interval", reason)])


def check_bucket_count(query: CallQuery, interval: str) -> None:
    """InvalidRequest when a bounded window plainly holds too many buckets (a field error, found
    before any database work; allhistory's span is known only from the tenant's calls)."""
    start, end = query.window.start_ms, query.window.end_ms
    if start is not None and end is not None:
        try:
            _check_nominal(start, end, interval)
        except TooManyBuckets as exc:
            raise too_many_buckets(exc) from None


def span_sql(scope: Where) -> tuple[str, dict[str, Any]]:
    """The tenant's first and last call start: the window of `allhistory`."""
    return f"SELECT min(start_ms), max(start_ms) FROM calls WHERE {scope.sql}", scope.params


# Per bucket: calls, handled calls and their handling time, wait time, abandoned, transfers.
_MEASURES = (
    "count(*)",
    "count(*) FILTER (WHERE agent_handling > 0)",
    "coalesce(sum(agent_handling) FILTER (WHERE agent_handling > 0), 0)",
    "coalesce(sum(wait_time), 0)",
    "count(*) FILTER (WHERE abandon_time > 0)",
    "coalesce(sum(transfer_count), 0)",
)
_MEASURED_COLUMNS = "start_ms, agent_handling, wait_time, abandon_time, transfer_count"


def build_stats(where: Where, edges: list[int]) -> StatsQuery:
    """SQL answering (bucket number 1..n, *measures) for each non-empty bucket between `edges`,
    over the calls `where` selects."""
    p = where.dialect.param
    params = dict(where.params)
    params["edge_first"], params["edge_last"] = edges[0], edges[-1]
    params["bucket_low"], params["bucket_high"] = edges[:-1], edges[1:]
    inside = f"{where.sql} AND start_ms >= {p('edge_first')} AND start_ms < {p('edge_last')}"
    source = f"SELECT {_MEASURED_COLUMNS} FROM calls WHERE {inside}"
    sql = where.dialect.bucketed(source, ", ".join(_MEASURES), "bucket_low", "bucket_high")
    return StatsQuery(sql, params, edges)


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _label(epoch_ms: int, tz: ZoneInfo) -> str:
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, tz).isoformat()
    except (OverflowError, ValueError, OSError):  # local time past year 9999: say it in UTC
        return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat()


_EMPTY = (0, 0, 0.0, 0.0, 0, 0)


def summarise(
    tenant_id: str,
    query: CallQuery,
    interval: str,
    edges: list[int],
    rows: Sequence[Sequence[Any]],
) -> StatsResponse:
    """The answer from the measures `build_stats` selected (rows of bucket number, *measures)."""
    tz = zone(query.timezone)
    found = {int(row[0]): row[1:] for row in rows}
    buckets: list[StatsBucket] = []
    sums = [0, 0, 0.0, 0.0, 0, 0]
    for number in range(1, len(edges)):
        calls, handled, handling, wait, abandoned, transfers = found.get(number, _EMPTY)
        figures = (
            int(calls),
            int(handled),
            float(handling),
            float(wait),
            int(abandoned),
            int(transfers),
        )
        sums = [a + b for a, b in zip(sums, figures, strict=True)]
        buckets.append(
            StatsBucket(
                start=edges[number - 1],
                end=edges[number],
                label=_label(edges[number - 1], tz),
                calls=figures[0],
                answered=figures[1],
                avgHandleTime=_mean(figures[2], figures[1]),
                avgWaitTime=_mean(figures[3], figures[0]),
                abandoned=figures[4],
                transfers=figures[5],
            )
        )
    calls, handled, handling, wait, abandoned, transfers = sums
    totals = StatsTotals(
        calls=int(calls),
        answered=int(handled),
        avgHandleTime=_mean(handling, int(handled)),
        avgWaitTime=_mean(wait, int(calls)),
        abandoned=int(abandoned),
        abandonRate=round(abandoned / calls, 4) if calls else None,
        transfers=int(transfers),
    )
    return StatsResponse(
        tenantId=tenant_id,
        interval=interval,
        timezone=query.timezone,
        start=buckets[0].start if buckets else None,
        end=buckets[-1].end if buckets else None,
        buckets=buckets,
        totals=totals,
    )
