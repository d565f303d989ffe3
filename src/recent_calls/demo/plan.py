"""When a demo tenant's calls arrive: the arrival rate over the window, per 15 minutes.

The rate follows business hours, the time of day and the day of the week, times a random
busyness per day drawn from the seed.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import datetime
from math import exp
from random import Random
from statistics import NormalDist
from zoneinfo import ZoneInfo

_BUCKET_MS = 900_000  # 15 minutes: every zone offset in use is a multiple of it
_QUARTERS = 96
MIXED = -(1 << 40)  # offset marker for a bucket that holds a zone change (none do today)

# Opening hours in local time, (first minute, minute after last) by weekday, Monday = 0.
_OPENING_HOURS: dict[int, tuple[int, int]] = {
    0: (8 * 60, 20 * 60),
    1: (8 * 60, 20 * 60),
    2: (8 * 60, 20 * 60),
    3: (8 * 60, 20 * 60),
    4: (8 * 60, 20 * 60),
    5: (9 * 60, 13 * 60),
}

# Relative call volume per weekday: Mondays catch the weekend's backlog, Sundays are dead.
_WEEKDAY_VOLUME = (1.15, 1.07, 1.0, 0.97, 0.88, 0.5, 0.3)


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell curve of height 1 around `centre` hours."""
    return exp(-0.5 * ((hour - centre) / width) ** 2)


def _open_rate(hour: float) -> float:
    """Relative arrivals at `hour` (local, fractional) while the center is open."""
    # Two peaks, mid-morning and mid-afternoon, with the lunch dip between them.
    return 0.3 + 1.0 * _bump(hour, 10.5, 1.3) + 0.8 * _bump(hour, 14.75, 1.5)


def _closed_rate(hour: float) -> float:
    """Relative arrivals at `hour` (local, fractional) while the center is closed."""
    # After hours: a tail of callers in the evening, a trickle at night, early birds before 8.
    return 0.015 + 0.09 * _bump(hour, 20.5, 1.0) + 0.06 * _bump(hour, 7.4, 0.5)


def _quarter_tables() -> tuple[tuple[tuple[bool, ...], ...], tuple[tuple[float, ...], ...]]:
    """Per weekday and local quarter hour: whether the center is open, and the arrival rate."""
    opened: list[tuple[bool, ...]] = []
    rates: list[tuple[float, ...]] = []
    for weekday in range(7):
        first, after = _OPENING_HOURS.get(weekday, (0, 0))
        flags = tuple(first <= q * 15 < after for q in range(_QUARTERS))
        opened.append(flags)
        rates.append(
            tuple(
                _WEEKDAY_VOLUME[weekday]
                * (_open_rate if flags[q] else _closed_rate)((q * 15 + 7.5) / 60)
                for q in range(_QUARTERS)
            )
        )
    return tuple(opened), tuple(rates)


OPEN, _RATE = _quarter_tables()
_PEAK_RATE = max(max(row) for row in _RATE)

# 4096 standard normal quantiles: a table lookup instead of gauss().
Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


@dataclass(frozen=True)
class Plan:
    """The arrival rate over the window, per 15-minute bucket aligned to UTC."""

    starts: array[int]  # bucket k is [starts[k], starts[k + 1])
    cumulative: array[float]  # expected calls before bucket k, in rate units
    offsets: array[int]  # local UTC offset in seconds, or MIXED
    wait_scale: array[float]  # how long queues are in this bucket, relative to normal


def utc_offset(tz: ZoneInfo, seconds: int) -> int:
    """The UTC offset of zone `tz` at epoch `seconds`, in seconds."""
    delta = datetime.fromtimestamp(seconds, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def draw_plan(rng: Random, tz: ZoneInfo, start_ms: int, end_ms: int) -> Plan:
    """The rate table of [start_ms, end_ms) in zone `tz`, with a random busyness per day."""
    starts = array("q", [start_ms])
    cumulative = array("d", [0.0])
    offsets = array("q")
    wait_scale = array("d")
    day_volume: dict[int, float] = {}
    total = 0.0
    edge = start_ms
    while edge < end_ms:
        after = min((edge // _BUCKET_MS + 1) * _BUCKET_MS, end_ms)
        seconds = edge // 1000
        offset = utc_offset(tz, seconds)
        if utc_offset(tz, (after - 1) // 1000) != offset:
            offsets.append(MIXED)
        else:
            offsets.append(offset)
        local = seconds + offset
        day = local // 86400
        volume = day_volume.get(day)
        if volume is None:
            # Most days vary a little; now and then a day is swamped (an outage, a mailing).
            volume = exp(0.12 * Z[int(rng.random() * 4096)])
            if rng.random() < 0.03:
                volume *= 1.6 + 0.6 * rng.random()
            day_volume[day] = volume
        weekday = (day + 3) % 7
        quarter = (local % 86400) // 900
        rate = _RATE[weekday][quarter]
        total += rate * volume * (after - edge)
        starts.append(after)
        cumulative.append(total)
        if OPEN[weekday][quarter]:
            # Staffing follows the forecast, so queues grow at peaks and on surprise days.
            wait_scale.append(volume * volume * (0.6 + 0.5 * rate / _PEAK_RATE))
        else:
            wait_scale.append(2.5)  # a skeleton crew after hours
        edge = after
    return Plan(starts, cumulative, offsets, wait_scale)
