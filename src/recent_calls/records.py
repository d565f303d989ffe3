"""A call record: the import shape (a response `data` item plus a few keys) and its stored row."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from .clock import parse_instant
from .errors import FieldError
from .searchkey import search_key
from .windows import MAX_EPOCH_MS

MAX_MS = 10**15  # about 31,000 years: any real duration fits, and so does BIGINT arithmetic

Millis = Annotated[float, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Text = Annotated[str, StringConstraints(max_length=1024)]
Multi = Text | list[Text]


class ImportedCall(BaseModel):
    """One line of an import: a response `data` item, plus startTime and the hidden counts."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    callId: Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
    startTime: StrictInt | str | None = None  # strict: true must not become 1 ms
    callDate: str | None = None
    callDuration: Millis = 0
    agentCallHandlingDuration: Millis = 0
    timeInIVR: Millis = 0
    holdDuration: Millis = 0
    maximumHoldDuration: Millis = 0
    waitTime: Millis = 0
    abandonTime: Millis = 0
    transferCount: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)] = 0
    muteDuration: Millis = 0
    agentHoldCount: Count = 0
    agentMuteCount: Count = 0
    queueId: Multi = ""
    agentId: Multi = ""
    agentGroup: Multi = ""
    transactionId: Multi = ""
    callerName: Text = ""
    callerNumber: Text = ""
    dialedNumber: Text = ""
    scheduleHours: Text = ""
    callType: Text = ""
    callSubType: Text = ""
    hungupBy: Text = ""
    postCallSurvey: Text | list[Any] = "[]"
    voiceComment: Text | dict[str, Any] = "{}"
    totalScore: Text = ""
    destinationNumber: Text = ""
    voiceCommentFileNames: Text = ""
    callerPhoneNumber: Text = ""


def _split(value: str | list[str], sep: str) -> list[str]:
    if isinstance(value, str):
        if sep not in value:  # the common case: one value or none
            value = value.strip()
            return [value] if value else []
        value = value.split(sep)
    return [part.strip() for part in value if part and not part.isspace()]


_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}


def _json_text(value: str | list[Any] | dict[str, Any], kind: type) -> str:
    if isinstance(value, str):
        if value == _EMPTY_JSON[kind]:
            return value
        if not value.strip():
            return _EMPTY_JSON[kind]
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError(f"is not JSON text holding a {kind.__name__}") from None
        if not isinstance(parsed, kind):
            raise ValueError(f"holds JSON that is not a {kind.__name__}")
        return value
    return orjson.dumps(value).decode()


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


class LocalTimeReader:
    """Reads `MM/DD/YYYY HH:MM:SS` in one zone into epoch ms, caching offsets per local minute.

    A local time that a DST change skips or repeats is read with fold=0 (the first reading).
    """

    def __init__(self, tz: Any) -> None:
        self.tz = tz
        self._offsets: dict[tuple[int, int, int, int, int], int] = {}

    def epoch_ms(self, text: str) -> int:
        text = text.strip()
        if len(text) != 19 or text[2] != "/" or text[5] != "/" or text[10] != " ":
            raise ValueError("is not of the form MM/DD/YYYY HH:MM:SS")
        try:
            month, day, year = int(text[0:2]), int(text[3:5]), int(text[6:10])
            hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
            naive = datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise ValueError("is not a valid date and time MM/DD/YYYY HH:MM:SS") from None
        naive_seconds = (naive.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60
        key = (year, month, day, hour, minute)
        offset = self._offsets.get(key)
        if offset is None:
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            aware = naive.replace(second=0, tzinfo=self.tz)
            offset = self._offsets[key] = int(aware.timestamp()) - naive_seconds
        return (naive_seconds + second + offset) * 1000


_TEXT_FIELDS = tuple(
    name for name, info in ImportedCall.model_fields.items() if info.annotation in (str, Text)
)


def _field_with_nul(call: ImportedCall) -> str | None:
    for name in _TEXT_FIELDS:
        if "\x00" in getattr(call, name):
            return name
    for name in ("queueId", "agentId", "agentGroup", "transactionId"):
        value = getattr(call, name)
        if any("\x00" in part for part in ([value] if isinstance(value, str) else value)):
            return name
    return None


def to_row(
    call: ImportedCall, clock: LocalTimeReader, *, may_hold_nul: bool = True
) -> tuple[Any, ...]:
    """The stored row of one validated call, in ROW_COLUMNS order; ValueError names what is bad."""
    if call.startTime is not None:
        try:
            start = (
                call.startTime if isinstance(call.startTime, int) else parse_instant(call.startTime)
            )
        except ValueError as exc:
            raise ValueError(f"startTime {exc}") from None
    elif call.callDate is not None:
        try:
            start = clock.epoch_ms(call.callDate)
        except ValueError as exc:
            raise ValueError(f"callDate {exc}") from None
    else:
        raise ValueError("callDate or startTime is required")
    if not 0 <= start <= MAX_EPOCH_MS:
        raise ValueError("startTime is out of range (1970 to 9999)")
    if may_hold_nul and (name := _field_with_nul(call)):
        raise ValueError(f"{name} contains a NUL character")
    if not float(call.transferCount).is_integer():
        raise ValueError("transferCount is not a whole number")
    try:
        survey = _json_text(call.postCallSurvey, list)
    except ValueError as exc:
        raise ValueError(f"postCallSurvey {exc}") from None
    try:
        comment = _json_text(call.voiceComment, dict)
    except ValueError as exc:
        raise ValueError(f"voiceComment {exc}") from None
    return (
        call.callId,
        start,
        round(call.callDuration),
        call.agentCallHandlingDuration,
        call.timeInIVR,
        call.holdDuration,
        call.maximumHoldDuration,
        call.waitTime,
        call.abandonTime,
        int(call.transferCount),
        round(call.muteDuration),
        call.agentHoldCount,
        call.agentMuteCount,
        _split(call.queueId, ","),
        _split(call.agentId, ","),
        _split(call.agentGroup, ","),
        " ".join(_split(call.transactionId, " ")),
        call.callerName,
        call.callerNumber,
        search_key(call.callerName),
        search_key(call.callerNumber),
        call.dialedNumber,
        call.scheduleHours,
        call.callType,
        call.callSubType,
        call.hungupBy,
        survey,
        comment,
        call.totalScore,
        call.destinationNumber,
        call.voiceCommentFileNames,
        call.callerPhoneNumber,
    )


def parse_call(
    source: str | bytes | dict[str, Any], clock: LocalTimeReader, where: str
) -> tuple[tuple[Any, ...] | None, list[FieldError]]:
    """Validate one call (a JSON line or a decoded object) into a row, or into its errors."""
    try:
        if isinstance(source, dict):
            call = ImportedCall.model_validate(source)
            may_hold_nul = True
        else:
            call = ImportedCall.model_validate_json(source)
            # JSON text can only carry a NUL escaped, so one scan of the line rules it out.
            if isinstance(source, bytes):
                may_hold_nul = b"\\u0000" in source
            else:
                may_hold_nul = "\\u0000" in source
    except ValidationError as exc:
        errors = []
        for item in exc.errors(include_url=False):
            loc = ".".join(str(part) for part in item["loc"])
            if item["type"] == "json_invalid":
                message = "is not valid JSON"
            elif item["type"] in ("model_type", "model_attributes_type"):
                message = "is not a JSON object"
            else:
                message = f"{loc}: {item['msg']}"
            errors.append(FieldError(where, message))
        return None, errors[:5]
    try:
        return to_row(call, clock, may_hold_nul=may_hold_nul), []
    except ValueError as exc:
        return None, [FieldError(where, str(exc))]
