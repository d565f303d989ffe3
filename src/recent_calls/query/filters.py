"""The filter compiler: a validated query in, WHERE conditions and their named parameters out.

Pure: no I/O. It adds the query's conditions to a `Where` that storage starts with the tenant's
scope (storage/scope.py), so the compiler never writes, and cannot drop, the tenant condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recent_calls.fields import OUTCOMES
from recent_calls.query.request import CallQuery, CountRange, DurationRange
from recent_calls.query.searchkey import number_key, search_key

if TYPE_CHECKING:  # the compilers are pure: no storage module is loaded for them
    from recent_calls.query.dialects import Dialect

# Request field -> stored column, for each family of filter.
LIST_FILTERS = {
    "tenantAgents": "agent_ids",
    "tenantQueues": "queue_ids",
    "tenantGroups": "agent_groups",
}
COUNT_FILTERS = {
    "agentHoldCount": "agent_hold_count",
    "agentMuteCount": "agent_mute_count",
    "transferCount": "transfer_count",
}
DURATION_FILTERS = {
    "callDuration": "call_duration",
    "timeInQueue": "wait_time",
    "timeInIVR": "time_in_ivr",
    "agentCallDuration": "agent_handling",
    "agentHoldDuration": "hold_duration",
}
# Outcome -> the condition that selects it: every call has exactly one, answered first, as the
# breakdown counts them (answered: handling above 0; abandoned: an abandon time above 0).
OUTCOME_CONDITIONS = {
    "answered": "agent_handling > 0",
    "abandoned": "(coalesce(agent_handling, 0) <= 0 AND abandon_time > 0)",
    "other": "(coalesce(agent_handling, 0) <= 0 AND coalesce(abandon_time, 0) <= 0)",
}


@dataclass
class Where:
    """SQL conditions joined with AND, and the parameters they name."""

    dialect: Dialect
    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, name: str, value: Any) -> str:
        if name in self.params:
            raise ValueError(f"parameter {name!r} is bound twice")
        self.params[name] = value
        return self.dialect.param(name)

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses)


def _add_range(
    where: Where, column: str, name: str, low: int | None, high: int | None, *, high_exclusive: bool
) -> None:
    if low is not None:
        where.add(f"{column} >= {where.bind(name + '_low', low)}")
    if high is not None:
        operator = "<" if high_exclusive else "<="
        where.add(f"{column} {operator} {where.bind(name + '_high', high)}")


def build_where(query: CallQuery, where: Where) -> Where:
    """`where` (a tenant's scope) narrowed to the calls matching `query`."""
    request = query.request
    dialect = where.dialect

    window = query.window
    _add_range(where, "start_ms", "start", window.start_ms, window.end_ms, high_exclusive=True)

    typed = (request.callerName or ("",))[0]
    needle = search_key(typed)
    if needle:
        where.bind("caller", dialect.contains_value(needle))
        conditions = [
            dialect.contains("caller_name_key", "caller"),
            dialect.contains("caller_number_key", "caller"),
        ]
        # A number typed with punctuation, a trunk prefix or a country code is also found by
        # its digits (docs/api.md): the vendor's substring match still holds beside it.
        digits = number_key(typed)
        if digits is not None and digits != needle:
            where.bind("caller_digits", dialect.contains_value(digits))
            conditions.append(dialect.contains("caller_number_key", "caller_digits"))
        where.add(f"({' OR '.join(conditions)})")

    for name, column in LIST_FILTERS.items():
        values = getattr(request, name)
        if values:
            where.bind(name, list(values))
            where.add(dialect.overlaps(column, name))
    if request.tenantChannels:
        where.bind("tenantChannels", list(request.tenantChannels))
        where.add(dialect.one_of("dialed_number", "tenantChannels"))

    if _narrowing_outcomes(request.outcome):
        chosen = request.outcome or ()
        where.add(f"({' OR '.join(OUTCOME_CONDITIONS[name] for name in chosen)})")

    for name, column in COUNT_FILTERS.items():
        counts: CountRange | None = getattr(request, name)
        if counts is not None:
            _add_range(where, column, name, counts.low, counts.high, high_exclusive=False)

    for name, column in DURATION_FILTERS.items():
        durations: DurationRange | None = getattr(request, name)
        if durations is not None:
            low, high = durations.bounds_ms()
            _add_range(where, column, name, low, high, high_exclusive=True)
    return where


def _narrowing_outcomes(chosen: tuple[str, ...] | None) -> bool:
    """Whether the outcomes asked for leave some calls out (all of them, or none, leave none)."""
    return bool(chosen) and set(chosen or ()) != set(OUTCOMES)


def only_window(query: CallQuery) -> bool:
    """Whether `query` selects by its time window alone (no filter narrows it further)."""
    request = query.request
    if (request.callerName or ("",))[0] or _narrowing_outcomes(request.outcome):
        return False
    lists = (*LIST_FILTERS, "tenantChannels")
    ranges = (*COUNT_FILTERS, *DURATION_FILTERS)
    return not any(getattr(request, name) for name in lists) and all(
        getattr(request, name) is None for name in ranges
    )
