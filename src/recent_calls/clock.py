"""The server's notion of "now", frozen by RECENT_CALLS_NOW for tests and replays."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], int]
"""A clock answers the current time in epoch milliseconds (UTC)."""


def parse_instant(value: str) -> int:
    """Read epoch milliseconds or ISO-8601 with an offset into epoch milliseconds."""
    text = value.strip()
    if text.lstrip("-").isdigit() and text.isascii():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither epoch milliseconds nor ISO-8601 with an offset"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; add one, e.g. 2024-03-10T12:00:00-05:00")
    return int(moment.timestamp() * 1000)


def system_clock() -> int:
    return time.time_ns() // 1_000_000


def make_clock(frozen: str | None) -> Clock:
    """A clock frozen at `frozen` when given, else the system clock."""
    if not frozen:
        return system_clock
    instant = parse_instant(frozen)
    return lambda: instant
