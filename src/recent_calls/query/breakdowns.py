"""The breakdown compiler: matching calls grouped by queue, agent, agent group or channel.

Pure: no I/O. One GROUP BY over recentCallData's own WHERE clause (`filters.build_where`, the
tenant first). A call with several queues, agents or groups counts once under each of them
(its list is de-duplicated, then unnested); a call with none counts under the key "".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from recent_calls.errors import FieldError
from recent_calls.query.filters import Where

# groupBy value -> (stored column, whether it holds a list).
GROUP_BY: dict[str, tuple[str, bool]] = {
    "queue": ("queue_ids", True),
    "agent": ("agent_ids", True),
    "agentGroup": ("agent_groups", True),
    "channel": ("dialed_number", False),
}
# groupBy value -> the list filter that selects one of its keys: what a breakdown row filters by.
ROW_FILTER: dict[str, str] = {
    "queue": "tenantQueues",
    "agent": "tenantAgents",
    "agentGroup": "tenantGroups",
    "channel": "tenantChannels",
}
MAX_ROWS = 1000
DEFAULT_SERVICE_LEVEL_S = 20
MAX_SERVICE_LEVEL_S = 86_400

# Per key: calls, answered, abandoned, wait sum, handling sum of answered, answered within the
# service-level threshold, transfers.
_MEASURES = (
    "count(*)",
    "count(*) FILTER (WHERE agent_handling > 0)",
    "count(*) FILTER (WHERE abandon_time > 0)",
    "coalesce(sum(wait_time), 0)",
    "coalesce(sum(agent_handling) FILTER (WHERE agent_handling > 0), 0)",
    "count(*) FILTER (WHERE agent_handling > 0 AND wait_time <= {threshold})",
    "coalesce(sum(transfer_count), 0)",
)
_MEASURED_COLUMNS = "agent_handling, abandon_time, wait_time, transfer_count"


@dataclass(frozen=True)
class Grouping:
    """What a stats request asks to break down by, and its service-level threshold."""

    by: str
    service_level_s: int = DEFAULT_SERVICE_LEVEL_S


@dataclass(frozen=True)
class BreakdownQuery:
    sql: str
    params: dict[str, Any]


def build_breakdown(where: Where, grouping: Grouping) -> BreakdownQuery:
    """SQL answering (key, *measures) for the top MAX_ROWS keys: calls descending, then key,
    over the calls `where` selects (a tenant's scope with the query's filters)."""
    if grouping.by not in GROUP_BY:
        raise ValueError(f"unknown groupBy {grouping.by!r}")
    column, is_list = GROUP_BY[grouping.by]
    dialect = where.dialect
    params = dict(where.params)
    params["limit"] = MAX_ROWS
    # Integer milliseconds, bound as a parameter like every other value.
    params["sl_threshold"] = grouping.service_level_s * 1000
    measures = ", ".join(_MEASURES).format(threshold=dialect.param("sl_threshold"))
    source = f"SELECT {column}, {_MEASURED_COLUMNS} FROM calls WHERE {where.sql}"
    keyed = dialect.keyed(source, column, is_list, _MEASURED_COLUMNS)
    sql = (
        f"SELECT group_key, {measures} FROM ({keyed}) AS k GROUP BY group_key "
        f"ORDER BY 2 DESC, {dialect.text_key('group_key')} LIMIT {dialect.param('limit')}"
    )
    return BreakdownQuery(sql, params)


def build_overall(where: Where, grouping: Grouping) -> BreakdownQuery:
    """SQL answering (calls, answered within the threshold) over the calls `where` selects,
    each call once: the service level of them all, which the rows cannot add up to."""
    params = dict(where.params)
    params["sl_threshold"] = grouping.service_level_s * 1000
    within = _MEASURES[5].format(threshold=where.dialect.param("sl_threshold"))
    return BreakdownQuery(f"SELECT count(*), {within} FROM calls WHERE {where.sql}", params)


class BreakdownRow(BaseModel):
    """The figures of the calls that hold one queue, agent, group or channel."""

    key: str = Field(description='The id; "" for calls without one.')
    calls: int
    answered: int = Field(description="Calls an agent handled (handling time above 0).")
    abandoned: int = Field(description="Calls with an abandon time above 0.")
    abandonRate: float = Field(description="abandoned / calls, 0..1, four decimals.")
    avgWaitTime: float = Field(description="Mean wait time (ms) of all the calls.")
    avgHandleTime: float | None = Field(
        description="Mean agent handling time (ms) of the answered calls; null if none."
    )
    serviceLevel: float | None = Field(
        description="Calls answered with a wait at most the threshold, over all calls, 0..1."
    )
    transfers: int = Field(description="Sum of the calls' transfer counts.")


class Breakdown(BaseModel):
    """Matching calls grouped by one kind of id: at most 1000 rows, most calls first."""

    by: str = Field(examples=["queue"])
    serviceLevelSeconds: int
    serviceLevel: float | None = Field(
        None,
        description="Calls answered with a wait at most the threshold, over all the matching "
        "calls, each counted once, 0..1; null if none.",
    )
    rows: list[BreakdownRow]


def breakdown_of(
    grouping: Grouping, found: Sequence[Sequence[Any]], overall: Sequence[Any] = (0, 0)
) -> Breakdown:
    """The answer from the rows `build_breakdown`'s SQL returned, and `build_overall`'s row."""
    rows = []
    for key, calls, answered, abandoned, wait, handling, within, transfers in found:
        calls, answered = int(calls), int(answered)
        rows.append(
            BreakdownRow(
                key=str(key),
                calls=calls,
                answered=answered,
                abandoned=int(abandoned),
                abandonRate=round(int(abandoned) / calls, 4),
                avgWaitTime=round(float(wait) / calls, 1),
                avgHandleTime=round(float(handling) / answered, 1) if answered else None,
                serviceLevel=round(int(within) / calls, 4) if calls else None,
                transfers=int(transfers),
            )
        )
    calls, within = (int(value) for value in overall)
    return Breakdown(
        by=grouping.by,
        serviceLevelSeconds=grouping.service_level_s,
        serviceLevel=round(within / calls, 4) if calls else None,
        rows=rows,
    )


_BY_EXPECTED = "expected " + ", ".join(f'"{name}"' for name in GROUP_BY) + " or null"
_SL_EXPECTED = f"expected an integer from 0 to {MAX_SERVICE_LEVEL_S} (seconds)"


def parse_grouping(body: Any) -> tuple[Grouping | None, list[FieldError]]:
    """`groupBy` and `serviceLevelSeconds` of a stats body, and what is wrong with them."""
    if not isinstance(body, dict):
        return None, []  # the body itself is reported by the request parser
    errors: list[FieldError] = []
    by = body.get("groupBy")
    if by == "":
        by = None
    if by is not None and not (isinstance(by, str) and by in GROUP_BY):
        shown = repr(by[:40]) if isinstance(by, str) else f"a {type(by).__name__}"
        errors.append(FieldError("groupBy", f"{shown} is not a known value; {_BY_EXPECTED}"))
    threshold = body.get("serviceLevelSeconds")
    if threshold is None:
        threshold = DEFAULT_SERVICE_LEVEL_S
    elif isinstance(threshold, bool) or not isinstance(threshold, int):
        shown = f"a {type(threshold).__name__}"
        errors.append(
            FieldError("serviceLevelSeconds", f"{shown} is not an integer; {_SL_EXPECTED}")
        )
    elif not 0 <= threshold <= MAX_SERVICE_LEVEL_S:
        shown = str(threshold) if abs(threshold) < 10**12 else "the number"
        errors.append(FieldError("serviceLevelSeconds", f"{shown} is out of range; {_SL_EXPECTED}"))
    if errors or by is None:
        return None, errors
    return Grouping(by, threshold), []


def request_properties() -> dict[str, Any]:
    """The JSON Schema of the two request fields, for the OpenAPI document."""
    return {
        "groupBy": {
            "anyOf": [{"type": "string", "enum": list(GROUP_BY)}, {"type": "null"}],
            "default": None,
            "description": "Also break the matching calls down by this kind of id.",
        },
        "serviceLevelSeconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_SERVICE_LEVEL_S,
            "default": DEFAULT_SERVICE_LEVEL_S,
            "description": "The breakdown's service-level threshold: answered within this wait.",
        },
    }
