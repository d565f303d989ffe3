"""Response rendering: stored rows to the reference's JSON shape, keys and types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from .query import CallQuery
from .windows import zone

# What the page query selects, in this order; `render_row` reads the tuple positionally.
SELECT_COLUMNS = (
    "call_id",
    "start_ms",
    "call_duration",
    "agent_handling",
    "time_in_ivr",
    "hold_duration",
    "max_hold",
    "wait_time",
    "abandon_time",
    "transfer_count",
    "mute_duration",
    "array_to_string(queue_ids, ',')",
    "array_to_string(agent_ids, ',')",
    "array_to_string(agent_groups, ',')",
    "transaction_id",
    "caller_name",
    "caller_number",
    "dialed_number",
    "schedule_hours",
    "call_type",
    "call_sub_type",
    "hungup_by",
    "post_call_survey",
    "voice_comment",
    "total_score",
    "destination_number",
    "voice_comment_file_names",
    "caller_phone_number",
)
SELECT_SQL = ", ".join(SELECT_COLUMNS)

# The keys of a `data` item, in the reference's order.
DATA_KEYS = (
    "callDuration", "queueId", "agentCallHandlingDuration", "callDate", "agentId",
    "muteDuration", "scheduleHours", "timeInIVR", "agentGroup", "transferCount",
    "postCallSurvey", "callType", "callerName", "dialedNumber", "callDateOnly", "hungupBy",
    "holdDuration", "voiceComment", "callId", "abandonTime", "callerNumber", "callSubType",
    "totalScore", "transactionId", "destinationNumber", "voiceCommentFileNames", "tenantId",
    "maximumHoldDuration", "waitTime", "callTime", "callerPhoneNumber",
)  # fmt: skip


class LocalDates:
    """Formats epoch ms as local MM/DD/YYYY and HH:MM:SS, caching the offset per 15 minutes."""

    _BUCKET = 900

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int | None] = {}
        self._days: dict[int, str] = {}

    def _offset(self, seconds: int) -> int:
        bucket = seconds // self._BUCKET
        offset = self._offsets.get(bucket, -1)
        if offset == -1:
            start = bucket * self._BUCKET
            first = self.tz.utcoffset(datetime.fromtimestamp(start, self.tz))
            last = self.tz.utcoffset(datetime.fromtimestamp(start + self._BUCKET - 1, self.tz))
            # A bucket that holds a zone change is left uncached and computed per call.
            offset = int(first.total_seconds()) if first == last and first is not None else None
            self._offsets[bucket] = offset
        if offset is None:
            moment = datetime.fromtimestamp(seconds, self.tz)
            delta = moment.utcoffset()
            return int(delta.total_seconds()) if delta is not None else 0
        return offset

    def parts(self, epoch_ms: int) -> tuple[str, str]:
        """(MM/DD/YYYY, HH:MM:SS) of the instant in this zone."""
        seconds = epoch_ms // 1000
        local = seconds + self._offset(seconds)
        day, second_of_day = divmod(local, 86400)
        date_text = self._days.get(day)
        if date_text is None:
            date_text = datetime.fromtimestamp(day * 86400, ZoneInfo("UTC")).strftime("%m/%d/%Y")
            self._days[day] = date_text
        clock = _CLOCKS.get(second_of_day)
        if clock is None:
            hours, rest = divmod(second_of_day, 3600)
            minutes, secs = divmod(rest, 60)
            clock = _CLOCKS[second_of_day] = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        return date_text, clock


# HH:MM:SS of each second of the day, made as they are first needed (86,400 at most).
_CLOCKS: dict[int, str] = {}


def render_row(row: Sequence[Any], tenant_id: str, dates: LocalDates) -> dict[str, Any]:
    """One `data` item from one selected row."""
    (call_id, start_ms, call_duration, handling, ivr, hold, max_hold, wait, abandon, transfers,
     mute, queues, agents, groups, transactions, caller_name, caller_number, dialed, schedule,
     call_type, sub_type, hungup_by, survey, comment, score, destination, comment_files,
     caller_phone) = row  # fmt: skip
    day, clock = dates.parts(start_ms)
    return {
        "callDuration": str(call_duration),
        "queueId": queues,
        "agentCallHandlingDuration": f"{handling:.1f}",
        "callDate": f"{day} {clock}",
        "agentId": agents,
        "muteDuration": mute,
        "scheduleHours": schedule,
        "timeInIVR": f"{ivr:.1f}",
        "agentGroup": groups,
        "transferCount": f"{transfers:.1f}",
        "postCallSurvey": survey,
        "callType": call_type,
        "callerName": caller_name,
        "dialedNumber": dialed,
        "callDateOnly": day,
        "hungupBy": hungup_by,
        "holdDuration": f"{hold:.1f}",
        "voiceComment": comment,
        "callId": call_id,
        "abandonTime": f"{abandon:.1f}",
        "callerNumber": caller_number,
        "callSubType": sub_type,
        "totalScore": score,
        "transactionId": transactions,
        "destinationNumber": destination,
        "voiceCommentFileNames": comment_files,
        "tenantId": tenant_id,
        "maximumHoldDuration": f"{max_hold:.1f}",
        "waitTime": f"{wait:.1f}",
        "callTime": clock,
        "callerPhoneNumber": caller_phone,
    }


def render_rows(
    rows: Sequence[Sequence[Any]], tenant_id: str, timezone: str
) -> list[dict[str, Any]]:
    dates = LocalDates(zone(timezone))
    return [render_row(row, tenant_id, dates) for row in rows]


def render_response(query: CallQuery, hits: int, rows: Sequence[Sequence[Any]]) -> bytes:
    """The whole recentCallData answer, keys in the reference's order."""
    request = query.request
    return orjson.dumps(
        {
            "hits": hits,
            "alertBellCount": 0,
            "sortColumn": request.sortColumn,
            "data": render_rows(rows, query.tenant_id, query.timezone),
            "autoRefresh": None,
            "columns": [],
            "timezone": query.timezone,
            "sortOrder": request.sortOrder,
            "page": query.page,
            "rows": query.rows,
        }
    )
