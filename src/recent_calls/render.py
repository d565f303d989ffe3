"""Response rendering: typed stored rows to the reference's JSON shape, keys and types.

It reads `CallRow`s by name and holds no SQL: what a page selects is storage's (columns.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from .query import CallQuery
from .storage.base import SearchResult, Tenant
from .storage.columns import CallRow
from .windows import zone


class CallItem(msgspec.Struct):
    """One `data` item: the reference's keys in its order, with its JSON types."""

    callDuration: str
    queueId: str
    agentCallHandlingDuration: str
    callDate: str
    agentId: str
    muteDuration: int
    scheduleHours: str
    timeInIVR: str
    agentGroup: str
    transferCount: str
    postCallSurvey: str
    callType: str
    callerName: str
    dialedNumber: str
    callDateOnly: str
    hungupBy: str
    holdDuration: str
    voiceComment: str
    callId: str
    abandonTime: str
    callerNumber: str
    callSubType: str
    totalScore: str
    transactionId: str
    destinationNumber: str
    voiceCommentFileNames: str
    tenantId: str
    maximumHoldDuration: str
    waitTime: str
    callTime: str
    callerPhoneNumber: str


DATA_KEYS: tuple[str, ...] = CallItem.__struct_fields__
"""The keys of a `data` item, in the reference's order."""

_ENCODER = msgspec.json.Encoder()

# Numbers with one decimal, as the reference writes them: the same few values (0.0 above all)
# recur on most calls, and a look-up costs a fifth of formatting.
_TENTHS: dict[float, str] = {}


def _tenths(value: float) -> str:
    text = _TENTHS.get(value)
    if text is None:
        if len(_TENTHS) >= 100_000:
            _TENTHS.clear()
        text = _TENTHS[value] = f"{value:.1f}"
    return text


# Instants whose offset is looked up: the calendar's range less two days at each end, so that
# no local time of any zone (offsets are within +-26 h) falls outside years 1..9999.
_FIRST_S = -62_135_596_800 + 2 * 86400  # 0001-01-03T00:00:00Z
_LAST_S = 253_402_300_799 - 2 * 86400  # 9999-12-29T23:59:59Z


def civil_date(day: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian day `day` days after 1970-01-01, for any
    integer, past the ends of Python's calendar too (H. Hinnant's days_from_civil inverse)."""
    z = day + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


class LocalDates:
    """Formats epoch ms as local MM/DD/YYYY and HH:MM:SS, caching the offset per 15 minutes.

    Never overflows: at the calendar's ends the offset is the zone's nearest one inside it, and
    dates are computed in integers (a call at 9999-12-31T23:59Z renders as 01/01/10000 in Paris).
    """

    _BUCKET = 900

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int | None] = {}
        self._days: dict[int, str] = {}

    def _offset(self, seconds: int) -> int:
        seconds = min(max(seconds, _FIRST_S), _LAST_S)
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
            year, month, day_of_month = civil_date(day)
            date_text = f"{month:02d}/{day_of_month:02d}/{year:04d}"
            self._days[day] = date_text
        clock = _CLOCKS.get(second_of_day)
        if clock is None:
            hours, rest = divmod(second_of_day, 3600)
            minutes, secs = divmod(rest, 60)
            clock = _CLOCKS[second_of_day] = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        return date_text, clock


# HH:MM:SS of each second of the day, made as they are first needed (86,400 at most).
_CLOCKS: dict[int, str] = {}


def render_item(row: CallRow, tenant_id: str, dates: LocalDates) -> CallItem:
    """One `data` item from one stored call."""
    day, clock = dates.parts(row.start_ms)
    tenths = _TENTHS.get
    return CallItem(
        callDuration=str(row.call_duration),
        queueId=row.queue_id,
        agentCallHandlingDuration=tenths(row.agent_handling) or _tenths(row.agent_handling),
        callDate=f"{day} {clock}",
        agentId=row.agent_id,
        muteDuration=row.mute_duration,
        scheduleHours=row.schedule_hours,
        timeInIVR=tenths(row.time_in_ivr) or _tenths(row.time_in_ivr),
        agentGroup=row.agent_group,
        transferCount=tenths(row.transfer_count) or _tenths(row.transfer_count),
        postCallSurvey=row.post_call_survey,
        callType=row.call_type,
        callerName=row.caller_name,
        dialedNumber=row.dialed_number,
        callDateOnly=day,
        hungupBy=row.hungup_by,
        holdDuration=tenths(row.hold_duration) or _tenths(row.hold_duration),
        voiceComment=row.voice_comment,
        callId=row.call_id,
        abandonTime=tenths(row.abandon_time) or _tenths(row.abandon_time),
        callerNumber=row.caller_number,
        callSubType=row.call_sub_type,
        totalScore=row.total_score,
        transactionId=row.transaction_id,
        destinationNumber=row.destination_number,
        voiceCommentFileNames=row.voice_comment_file_names,
        tenantId=tenant_id,
        maximumHoldDuration=tenths(row.max_hold) or _tenths(row.max_hold),
        waitTime=tenths(row.wait_time) or _tenths(row.wait_time),
        callTime=clock,
        callerPhoneNumber=row.caller_phone_number,
    )


def render_row(row: CallRow, tenant_id: str, dates: LocalDates) -> dict[str, Any]:
    """One `data` item as a dict (for writers other than the JSON answer, e.g. CSV)."""
    return msgspec.structs.asdict(render_item(row, tenant_id, dates))


def render_rows(rows: Sequence[CallRow], tenant_id: str, timezone: str) -> list[CallItem]:
    dates = LocalDates(zone(timezone))
    return [render_item(row, tenant_id, dates) for row in rows]


def render_response(query: CallQuery, tenant: Tenant, result: SearchResult) -> bytes:
    """The whole recentCallData answer, keys in the reference's order."""
    request = query.request
    return _ENCODER.encode(
        {
            "hits": result.hits,
            "alertBellCount": 0,
            "sortColumn": request.sortColumn,
            "data": render_rows(result.rows, tenant.tenant_id, query.timezone),
            "autoRefresh": None,
            "columns": [],
            "timezone": query.timezone,
            "sortOrder": request.sortOrder,
            "page": query.page,
            "rows": query.rows,
        }
    )
