"""What comes back: typed calls and pages, read from the documented response shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from recent_calls.client.errors import UnexpectedResponse
from recent_calls.client.query import epoch_ms
from recent_calls.fields import DATA_KEYS

# The keys of a response `data` item, in the reference's order (the renderer's own list).
CALL_KEYS = DATA_KEYS


@dataclass(frozen=True)
class Call:
    """One call, typed: durations in milliseconds, `call_date` aware in the response's zone."""

    call_id: str
    call_date: datetime
    call_duration: int
    agent_call_handling_duration: float
    time_in_ivr: float
    hold_duration: float
    maximum_hold_duration: float
    wait_time: float
    abandon_time: float
    transfer_count: int
    mute_duration: int
    queue_ids: list[str]
    agent_ids: list[str]
    agent_groups: list[str]
    transaction_ids: list[str]
    caller_name: str
    caller_number: str
    caller_phone_number: str
    dialed_number: str
    destination_number: str
    schedule_hours: str
    call_type: str
    call_sub_type: str
    hungup_by: str
    total_score: str
    voice_comment_file_names: str
    post_call_survey: list[Any]
    voice_comment: dict[str, Any]
    tenant_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The item exactly as the server sent it."""

    @property
    def start_ms(self) -> int:
        """Start time in epoch milliseconds (to the second, as precise as `callDate` is)."""
        return epoch_ms(self.call_date)

    def as_import_line(self) -> dict[str, Any]:
        """The item as received plus `startTime` (epoch ms): an import line for this call."""
        return {**self.raw, "startTime": self.start_ms}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnexpectedResponse(f"the response's timezone {name!r} is not an IANA zone") from None


def _number(item: Mapping[str, Any], key: str) -> float:
    value = item.get(key)
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise UnexpectedResponse(f"call {item.get('callId')!r}: {key} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UnexpectedResponse(
            f"call {item.get('callId')!r}: {key} {value!r} is not a number"
        ) from None


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def _multi(item: Mapping[str, Any], key: str, sep: str | None) -> list[str]:
    value = item.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(part) for part in value if str(part).strip()]
    return [part.strip() for part in str(value).split(sep) if part.strip()]


def _embedded(item: Mapping[str, Any], key: str, kind: type, empty: str) -> Any:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        value = empty
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise UnexpectedResponse(
                f"call {item.get('callId')!r}: {key} is not JSON text"
            ) from None
    if not isinstance(value, kind):
        raise UnexpectedResponse(f"call {item.get('callId')!r}: {key} is not a JSON {empty}")
    return value


def _call_date(item: Mapping[str, Any], tz: ZoneInfo) -> datetime:
    text = _text(item, "callDate").strip()
    try:
        naive = datetime.strptime(text, "%m/%d/%Y %H:%M:%S")
    except ValueError:
        raise UnexpectedResponse(
            f"call {item.get('callId')!r}: callDate {text!r} is not MM/DD/YYYY HH:MM:SS"
        ) from None
    # A local time repeated when DST ends is read as its first occurrence (fold=0).
    return naive.replace(tzinfo=tz)


def parse_call(item: Mapping[str, Any], timezone: str | ZoneInfo) -> Call:
    """A typed Call from one response `data` item, read in the response's `timezone`."""
    tz = timezone if isinstance(timezone, ZoneInfo) else _zone(timezone)
    call_id = _text(item, "callId")
    if not call_id:
        raise UnexpectedResponse("a call has no callId")
    return Call(
        call_id=call_id,
        call_date=_call_date(item, tz),
        call_duration=round(_number(item, "callDuration")),
        agent_call_handling_duration=_number(item, "agentCallHandlingDuration"),
        time_in_ivr=_number(item, "timeInIVR"),
        hold_duration=_number(item, "holdDuration"),
        maximum_hold_duration=_number(item, "maximumHoldDuration"),
        wait_time=_number(item, "waitTime"),
        abandon_time=_number(item, "abandonTime"),
        transfer_count=round(_number(item, "transferCount")),
        mute_duration=round(_number(item, "muteDuration")),
        queue_ids=_multi(item, "queueId", ","),
        agent_ids=_multi(item, "agentId", ","),
        agent_groups=_multi(item, "agentGroup", ","),
        transaction_ids=_multi(item, "transactionId", None),
        caller_name=_text(item, "callerName"),
        caller_number=_text(item, "callerNumber"),
        caller_phone_number=_text(item, "callerPhoneNumber"),
        dialed_number=_text(item, "dialedNumber"),
        destination_number=_text(item, "destinationNumber"),
        schedule_hours=_text(item, "scheduleHours"),
        call_type=_text(item, "callType"),
        call_sub_type=_text(item, "callSubType"),
        hungup_by=_text(item, "hungupBy"),
        total_score=_text(item, "totalScore"),
        voice_comment_file_names=_text(item, "voiceCommentFileNames"),
        post_call_survey=_embedded(item, "postCallSurvey", list, "[]"),
        voice_comment=_embedded(item, "voiceComment", dict, "{}"),
        tenant_id=_text(item, "tenantId"),
        raw=dict(item),
    )


@dataclass(frozen=True)
class Page:
    """One page of an answer: `hits` is the number of matching calls, all pages together."""

    hits: int
    page: int
    rows: int
    timezone: str
    sort_column: str | None
    sort_order: str | None
    calls: list[Call]


@dataclass(frozen=True)
class PushResult:
    """What a push stored: calls received, new ones, and ones replaced by callId."""

    received: int = 0
    inserted: int = 0
    replaced: int = 0


def page_of(document: Any, response: httpx.Response) -> Page:
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise UnexpectedResponse("the answer has no data list", response)
    timezone = str(document.get("timezone") or "GMT")
    tz = _zone(timezone)
    try:
        return Page(
            hits=int(document.get("hits") or 0),
            page=int(document.get("page") or 0),
            rows=int(document.get("rows") or 0),
            timezone=timezone,
            sort_column=document.get("sortColumn"),
            sort_order=document.get("sortOrder"),
            calls=[parse_call(item, tz) for item in document["data"]],
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedResponse(
            f"the answer is not the documented shape: {exc}", response
        ) from exc
