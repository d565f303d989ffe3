"""Ordering and the page plan: a total order, and SQL whose cost does not grow with depth.

Pure: no I/O. A page at offset k is found without sorting k full rows:

1. `boundary`: the sort key's value v at offset k, ordering by that one column only;
2. `before`: how many matching calls sort strictly before v (c <= k);
3. `page`: the calls at or after v in the full order, skipping k - c of them (only ties at v).

Past the middle of the hits, steps 1 and 2 count from the end instead (v is the value at
offset hits - 1 - k in the reverse order, and c is hits less the calls at or after v), so the
last page costs what the first does; the dearest page is the middle one. Page 1 needs step 3
alone. Engines may wrap step 3 in a late-materialized plan, and find steps 1 and 2 another way
(`Storage._boundary_by_days`: whole days passed by their calls per day, which PostgreSQL keeps
and DuckDB counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recent_calls.query.request import CallQuery

if TYPE_CHECKING:  # the compilers are pure: no storage module is loaded for them
    from recent_calls.query.dialects import Dialect

_NUMERIC_KEYS = {
    "callDate": "start_ms",
    "callDuration": "call_duration",
    "agentCallHandlingDuration": "agent_handling",
    "timeInIVR": "time_in_ivr",
    "holdDuration": "hold_duration",
    "maximumHoldDuration": "max_hold",
    "waitTime": "wait_time",
    "abandonTime": "abandon_time",
    "muteDuration": "mute_duration",
    "transferCount": "transfer_count",
}
_TEXT_KEYS = {
    "callerName": "caller_name_key",
    "callerNumber": "caller_number_key",
    "queueId": "lower(array_to_string(queue_ids, ','))",
    "agentId": "lower(array_to_string(agent_ids, ','))",
}


@dataclass(frozen=True)
class Ordering:
    """Order by `key`, then start time, then callId, all in one direction."""

    key: str
    descending: bool
    dialect: Dialect

    @classmethod
    def of(cls, query: CallQuery, dialect: Dialect) -> Ordering:
        column = query.sort_column
        if column in _TEXT_KEYS:
            key = dialect.text_key(_TEXT_KEYS[column])
        else:
            key = _NUMERIC_KEYS[column]
        return cls(key, query.descending, dialect)

    @property
    def direction(self) -> str:
        return "DESC" if self.descending else "ASC"

    @property
    def clause(self) -> str:
        """ORDER BY terms of the total order."""
        terms = [self.key] if self.key == "start_ms" else [self.key, "start_ms"]
        terms.append(self.dialect.text_key("call_id"))
        return ", ".join(f"{term} {self.direction}" for term in terms)

    def sorts_before(self, param: str) -> str:
        """The key sorts strictly before the parameter's value."""
        return f"{self.key} {'>' if self.descending else '<'} {self.dialect.param(param)}"

    def at_or_after(self, param: str) -> str:
        """The key equals the parameter's value or sorts after it."""
        return f"{self.key} {'<=' if self.descending else '>='} {self.dialect.param(param)}"

    def boundary_sql(self, where_sql: str, *, from_end: bool = False) -> str:
        """The key's value at offset $skip (one narrow column sorted), counted from the last
        call when `from_end`."""
        p = self.dialect.param
        direction = self.direction if not from_end else ("ASC" if self.descending else "DESC")
        return (
            f"SELECT {self.key} FROM calls WHERE {where_sql} "
            f"ORDER BY {self.key} {direction} LIMIT 1 OFFSET {p('skip')}"
        )

    def before_sql(self, where_sql: str) -> str:
        """How many calls sort strictly before $boundary."""
        return f"SELECT count(*) FROM calls WHERE {where_sql} AND {self.sorts_before('boundary')}"

    def at_or_after_sql(self, where_sql: str) -> str:
        """How many calls sort at or after $boundary."""
        return f"SELECT count(*) FROM calls WHERE {where_sql} AND {self.at_or_after('boundary')}"
