"""The calls table's columns, and the typed row a page of calls comes back as.

Storage owns its data: the table's definition (used by migrations and by each engine's bulk
loader), the order in which import hands over a row, and what a page selects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

# The stored columns, in table order: (column, DuckDB type, PostgreSQL type). Every column is
# NOT NULL but those in NULLABLE_COLUMNS; a column added by a later migration step goes last,
# where ALTER TABLE ... ADD COLUMN puts it.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("tenant_id", "VARCHAR", 'text COLLATE "C"'),
    ("call_id", "VARCHAR", 'text COLLATE "C"'),
    ("start_ms", "BIGINT", "bigint"),
    ("call_duration", "BIGINT", "bigint"),
    ("agent_handling", "DOUBLE", "double precision"),
    ("time_in_ivr", "DOUBLE", "double precision"),
    ("hold_duration", "DOUBLE", "double precision"),
    ("max_hold", "DOUBLE", "double precision"),
    ("wait_time", "DOUBLE", "double precision"),
    ("abandon_time", "DOUBLE", "double precision"),
    ("transfer_count", "BIGINT", "bigint"),
    ("mute_duration", "BIGINT", "bigint"),
    ("agent_hold_count", "BIGINT", "bigint"),
    ("agent_mute_count", "BIGINT", "bigint"),
    ("queue_ids", "VARCHAR[]", "text[]"),
    ("agent_ids", "VARCHAR[]", "text[]"),
    ("agent_groups", "VARCHAR[]", "text[]"),
    ("transaction_id", "VARCHAR", 'text COLLATE "C"'),
    ("caller_name", "VARCHAR", 'text COLLATE "C"'),
    ("caller_number", "VARCHAR", 'text COLLATE "C"'),
    ("caller_name_key", "VARCHAR", 'text COLLATE "C"'),
    ("caller_number_key", "VARCHAR", 'text COLLATE "C"'),
    ("dialed_number", "VARCHAR", 'text COLLATE "C"'),
    ("schedule_hours", "VARCHAR", 'text COLLATE "C"'),
    ("call_type", "VARCHAR", 'text COLLATE "C"'),
    ("call_sub_type", "VARCHAR", 'text COLLATE "C"'),
    ("hungup_by", "VARCHAR", 'text COLLATE "C"'),
    ("post_call_survey", "VARCHAR", 'text COLLATE "C"'),
    ("voice_comment", "VARCHAR", 'text COLLATE "C"'),
    ("total_score", "VARCHAR", 'text COLLATE "C"'),
    ("destination_number", "VARCHAR", 'text COLLATE "C"'),
    ("voice_comment_file_names", "VARCHAR", 'text COLLATE "C"'),
    ("caller_phone_number", "VARCHAR", 'text COLLATE "C"'),
    # The source's version of the record (migration 11): a call stored with one is replaced only
    # by a version at least as new. NULL for a call that came without one (every source but
    # Amazon Connect, whose LastUpdateTimestamp in epoch ms it is).
    ("source_version", "BIGINT", "bigint"),
)
NULLABLE_COLUMNS = frozenset({"source_version"})
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
ROW_COLUMNS = COLUMN_NAMES[1:]
"""A row, as import builds it, holds every column but tenant_id: storage binds the tenant."""
LIST_COLUMNS = frozenset({"queue_ids", "agent_ids", "agent_groups"})


class CallRow(NamedTuple):
    """One call as a page selects it: what the response shows, lists already joined."""

    call_id: str
    start_ms: int
    call_duration: int
    agent_handling: float
    time_in_ivr: float
    hold_duration: float
    max_hold: float
    wait_time: float
    abandon_time: float
    transfer_count: int
    mute_duration: int
    queue_id: str
    agent_id: str
    agent_group: str
    transaction_id: str
    caller_name: str
    caller_number: str
    dialed_number: str
    schedule_hours: str
    call_type: str
    call_sub_type: str
    hungup_by: str
    post_call_survey: str
    voice_comment: str
    total_score: str
    destination_number: str
    voice_comment_file_names: str
    caller_phone_number: str


class CallColumns:
    """A page of calls column by column, in CallRow's field order: what a renderer reads.

    An engine that can hand out columns (DuckDB, through Arrow) gives them without ever
    building a row; `of_rows` turns rows into columns, and `rows` columns into rows."""

    __slots__ = ("columns", "count")

    def __init__(self, columns: Sequence[Sequence[Any]], count: int) -> None:
        if len(columns) != len(CallRow._fields) or any(len(c) != count for c in columns):
            raise ValueError(f"a page has {len(CallRow._fields)} columns of {count} values")
        self.columns = columns
        self.count = count

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]]) -> CallColumns:
        """Rows in CallRow's field order (CallRows, or tuples as an engine fetched them)."""
        if not rows:
            return cls([()] * len(CallRow._fields), 0)
        return cls(list(zip(*rows, strict=True)), len(rows))

    def rows(self) -> list[CallRow]:
        return list(map(CallRow._make, zip(*self.columns, strict=True)))

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CallColumns):
            return NotImplemented
        return self.count == other.count and all(
            list(mine) == list(theirs)
            for mine, theirs in zip(self.columns, other.columns, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:  # the rows: what a failed comparison needs to show
        return f"CallColumns.of_rows({self.rows()!r})"


_JOINED = {
    "queue_id": "array_to_string(queue_ids, ',')",
    "agent_id": "array_to_string(agent_ids, ',')",
    "agent_group": "array_to_string(agent_groups, ',')",
}
PAGE_SELECT = ", ".join(
    f"{_JOINED[name]} AS {name}" if name in _JOINED else name for name in CallRow._fields
)
"""The select list of a page, in CallRow's order."""


PagePart = Callable[[CallColumns], Any]
"""What a search does with each part of its page as it arrives (`Storage.search`'s `each`)."""
