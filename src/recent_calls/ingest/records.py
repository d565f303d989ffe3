"""A call record: the import shape (a response `data` item plus a few keys) and its stored row."""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from recent_calls.clock import parse_instant
from recent_calls.errors import FieldError
from recent_calls.query.searchkey import search_key

MAX_MS = 10**15  # about 31,000 years: any real duration fits, and so does BIGINT arithmetic

# A call starts from 1970-01-01 to 9999-12-30 (UTC): a day short of the calendar's end, so that
# its local date and time can be shown in every zone (UTC+14 included) without overflow.
MIN_START_MS = 0
MAX_START_MS = 253_402_214_399_999  # 9999-12-30T23:59:59.999Z
MAX_VERSION = 2**63 - 1  # a source version is stored as BIGINT


def _not_bool(value: Any) -> Any:
    # JSON true and false are not numbers, although Python counts them as 1 and 0.
    if isinstance(value, bool):
        raise ValueError("is true or false, not a number")
    return value


NotBool = BeforeValidator(_not_bool)
Millis = Annotated[float, NotBool, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]
Count = Annotated[int, NotBool, Field(ge=0, le=1_000_000)]
Version = Annotated[int, NotBool, Field(ge=0, le=MAX_VERSION)]
Text = Annotated[str, StringConstraints(max_length=1024)]
Multi = Text | list[Text]


class ImportedCall(BaseModel):
    """One line of an import: a response `data` item, plus startTime, the hidden counts and the
    source's version of the record (`sourceVersion`: a stored call is replaced only by a line
    whose version is at least its own, or that has none)."""

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
    transferCount: Annotated[float, NotBool, Field(ge=0, le=1_000_000, allow_inf_nan=False)] = 0
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
    sourceVersion: Version | None = None


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
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        raise ValueError(_UNSTORABLE) from None


_UNSTORABLE = "holds text that is not valid Unicode (a lone surrogate) or nests too deeply"


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_LOCAL_TIME = re.compile(r"\d\d/\d\d/\d\d\d\d \d\d:\d\d:\d\d", re.ASCII)


class LocalTimeReader:
    """Reads `MM/DD/YYYY HH:MM:SS` in one zone into epoch ms, caching offsets per local minute.

    A local time that a DST change skips or repeats is read with fold=0 (the first reading),
    or with `fold=1` the second reading of a repeated one (not cached: an hour a year).
    """

    def __init__(self, tz: Any) -> None:
        self.tz = tz
        self._offsets: dict[tuple[int, int, int, int, int], int] = {}

    def epoch_ms(self, text: str, fold: int = 0) -> int:
        text = text.strip()
        if not _LOCAL_TIME.fullmatch(text):
            raise ValueError("is not of the form MM/DD/YYYY HH:MM:SS (in ASCII digits)")
        try:
            month, day, year = int(text[0:2]), int(text[3:5]), int(text[6:10])
            hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
            naive = datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise ValueError("is not a valid date and time MM/DD/YYYY HH:MM:SS") from None
        naive_seconds = (naive.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60
        key = (year, month, day, hour, minute)
        offset = self._offsets.get(key) if not fold else None
        if offset is None:
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            aware = naive.replace(second=0, tzinfo=self.tz, fold=fold)
            try:
                offset = int(aware.timestamp()) - naive_seconds
            except OverflowError:  # a zone's offset carries it past the calendar's ends
                raise ValueError("is out of range (1970-01-01 to 9999-12-30 UTC)") from None
            if not fold:
                self._offsets[key] = offset
        return (naive_seconds + second + offset) * 1000


# The vendor's call ids carry the call's start in hex epoch ms: `int-17e541ad2d9-...` started
# at 2022-01-13T15:42:31.129Z. A callDate read in the wrong zone is off by whole quarter hours.
_VENDOR_ID = re.compile(r"[a-z]{2,8}-([0-9a-f]{11})-", re.ASCII)
_ID_TIME_SLACK_MS = 10 * 60 * 1000
_ID_TIME_RANGE = (1_262_304_000_000, 4_102_444_800_000)  # 2010 to 2100: a start, not chance
_QUARTER_HOUR_MS = 15 * 60 * 1000


def _id_start_ms(call_id: str) -> int | None:
    """The start a vendor call id carries, or None for any other id."""
    found = _VENDOR_ID.match(call_id)
    if found is None:
        return None
    start = int(found.group(1), 16)
    return start if _ID_TIME_RANGE[0] <= start <= _ID_TIME_RANGE[1] else None


def _iso_utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_by_id(call_id: str, call_date: str, start: int, clock: LocalTimeReader) -> int:
    """The start of a call whose `call_date` read in the import's zone is `start`: `start`,
    unless the zone repeats that local time (the hour a DST change repeats) and a vendor call
    id says the call started at its second reading, then that one. ValueError naming the UTC
    offset that fits, when the start the id carries fits neither."""
    carried = _id_start_ms(call_id)
    if carried is None or abs(start - carried) <= _ID_TIME_SLACK_MS:
        return start
    # The second reading is later only for a repeated time; for one a DST change skips, it is
    # earlier, and no vendor wrote that local time.
    repeated = clock.epoch_ms(call_date, fold=1)
    if repeated > start and abs(repeated - carried) <= _ID_TIME_SLACK_MS:
        return repeated
    as_utc = LocalTimeReader(UTC).epoch_ms(call_date)
    quarters = round((as_utc - carried) / _QUARTER_HOUR_MS)
    sign, minutes = ("+" if quarters >= 0 else "-"), abs(quarters) * 15
    fits = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    hint = (
        f", e.g. Etc/GMT{'-' if sign == '+' else '+'}{minutes // 60}" if minutes % 60 == 0 else ""
    )
    raise ValueError(
        f"callDate {call_date.strip()!r} read in {clock.tz} is {_iso_utc(start)}, but callId "
        f"{call_id[:40]!r} says the call started at {_iso_utc(carried)}: the dates fit "
        f"{fits}; import with the time zone the dates were written in (an IANA zone at "
        f"{fits}{hint})"
    )


_TEXT_FIELDS = tuple(
    name for name, info in ImportedCall.model_fields.items() if info.annotation in (str, Text)
)
_MULTI_FIELDS = ("queueId", "agentId", "agentGroup", "transactionId")
# The number fields, in the order `_row` takes them, with the most each may hold.
_NUMBER_LIMITS = (
    ("callDuration", MAX_MS),
    ("agentCallHandlingDuration", MAX_MS),
    ("timeInIVR", MAX_MS),
    ("holdDuration", MAX_MS),
    ("maximumHoldDuration", MAX_MS),
    ("waitTime", MAX_MS),
    ("abandonTime", MAX_MS),
    ("transferCount", 1_000_000),
    ("muteDuration", MAX_MS),
)
_numbers = operator.attrgetter(*(name for name, _ in _NUMBER_LIMITS))

_Short = Annotated[str, msgspec.Meta(max_length=1024)]
_FastMillis = Annotated[float, msgspec.Meta(ge=0, le=MAX_MS)]
_FastCount = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
_FastVersion = Annotated[int, msgspec.Meta(ge=0, le=MAX_VERSION)]
_NULL = msgspec.Raw(b"null")


class FastCall(msgspec.Struct):
    """A line in the usual shape, decoded by msgspec in one pass with the field rules checked.

    The decoder reads numbers as JSON numbers or as numeric strings in JSON's own grammar. A
    line it cannot read, or whose values need a closer look (other numeric strings, escapes,
    blanks around callId, startTime other than epoch ms), is read again by `ImportedCall`,
    which decides and words the errors: this path only ever accepts lines that `ImportedCall`
    accepts, and makes the same row of them.
    """

    callId: str
    startTime: msgspec.Raw = _NULL  # raw: the decoder would read 1.5e12 as an integer
    callDate: str | None = None
    callDuration: _FastMillis = 0.0
    agentCallHandlingDuration: _FastMillis = 0.0
    timeInIVR: _FastMillis = 0.0
    holdDuration: _FastMillis = 0.0
    maximumHoldDuration: _FastMillis = 0.0
    waitTime: _FastMillis = 0.0
    abandonTime: _FastMillis = 0.0
    transferCount: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 0.0
    muteDuration: _FastMillis = 0.0
    agentHoldCount: _FastCount | str = 0  # a string: ImportedCall reads it
    agentMuteCount: _FastCount | str = 0
    queueId: _Short | list[_Short] = ""
    agentId: _Short | list[_Short] = ""
    agentGroup: _Short | list[_Short] = ""
    transactionId: _Short | list[_Short] = ""
    callerName: _Short = ""
    callerNumber: _Short = ""
    dialedNumber: _Short = ""
    scheduleHours: _Short = ""
    callType: _Short = ""
    callSubType: _Short = ""
    hungupBy: _Short = ""
    postCallSurvey: _Short | list[Any] = "[]"
    voiceComment: _Short | dict[str, Any] = "{}"
    totalScore: _Short = ""
    destinationNumber: _Short = ""
    voiceCommentFileNames: _Short = ""
    callerPhoneNumber: _Short = ""
    sourceVersion: _FastVersion | str | None = None  # a string: ImportedCall reads it


class ExactCall(FastCall, forbid_unknown_fields=True):
    """A FastCall with no key beyond a response `data` item's: msgspec then reads (and checks
    as UTF-8) every string of the line, so the line needs no scan of its own."""

    callDateOnly: str = ""
    callTime: str = ""
    tenantId: str = ""


# strict=False: numeric strings are read as numbers (and only in JSON's grammar).
_decode_exact = msgspec.json.Decoder(ExactCall, strict=False).decode
_decode_fast = msgspec.json.Decoder(FastCall, strict=False).decode


def _field_with_nul(call: ImportedCall) -> str | None:
    for name in _TEXT_FIELDS:
        if "\x00" in getattr(call, name):
            return name
    for name in _MULTI_FIELDS:
        value = getattr(call, name)
        if any("\x00" in part for part in ([value] if isinstance(value, str) else value)):
            return name
    return None


def _start_ms(call: ImportedCall, clock: LocalTimeReader) -> int:
    """The call's start in epoch ms, from startTime, else from callDate read in the zone."""
    if call.startTime is not None:
        name, value = "startTime", call.startTime
        if isinstance(value, str):
            if not value.isascii():
                raise ValueError("startTime must be written in ASCII digits")
            try:
                start = parse_instant(value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"startTime {exc}") from None
        else:
            start = value
    elif call.callDate is not None:
        name = "callDate"
        try:
            start = clock.epoch_ms(call.callDate)
        except ValueError as exc:
            raise ValueError(f"callDate {exc}") from None
        start = start_by_id(call.callId, call.callDate, start, clock)
    else:
        raise ValueError("callDate or startTime is required")
    if not MIN_START_MS <= start <= MAX_START_MS:
        raise ValueError(f"{name} is out of range (1970-01-01 to 9999-12-30 UTC)")
    return start


def _row(call: ImportedCall | FastCall, start: int, numbers: Sequence[float]) -> tuple[Any, ...]:
    duration, handling, ivr, hold, max_hold, wait, abandon, transfers, mute = numbers
    if not float(transfers).is_integer():
        raise ValueError("transferCount is not a whole number")
    try:
        survey = _json_text(call.postCallSurvey, list)
    except ValueError as exc:
        raise ValueError(f"postCallSurvey {exc}") from None
    try:
        comment = _json_text(call.voiceComment, dict)
    except ValueError as exc:
        raise ValueError(f"voiceComment {exc}") from None
    # + 0.0 turns a -0.0 (read from "-0") into 0.0: both decoders then store the same.
    return (
        call.callId,
        start,
        round(duration),
        handling + 0.0,
        ivr + 0.0,
        hold + 0.0,
        max_hold + 0.0,
        wait + 0.0,
        abandon + 0.0,
        int(transfers),
        round(mute),
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
        call.sourceVersion,
    )


def to_row(
    call: ImportedCall, clock: LocalTimeReader, *, may_hold_nul: bool = True
) -> tuple[Any, ...]:
    """The stored row of one validated call, in ROW_COLUMNS order; ValueError names what is bad."""
    start = _start_ms(call, clock)
    if may_hold_nul and (name := _field_with_nul(call)):
        raise ValueError(f"{name} contains a NUL character")
    return _row(call, start, _numbers(call))


def _plain_call_id(call_id: str) -> bool:
    """A callId the fast paths may store as it is: 1-256 characters, no blank at either end
    (ImportedCall strips those, so a line with them takes its path)."""
    return (
        bool(call_id)
        and len(call_id) <= 256
        and not call_id[0].isspace()
        and not call_id[-1].isspace()
    )


def fast_row(line: bytes | str, clock: LocalTimeReader) -> tuple[Any, ...] | None:
    """The row of a line in the usual shape, or None: then `ImportedCall` reads the line."""
    if isinstance(line, str):
        try:
            line = line.encode()
        except UnicodeEncodeError:
            return None
    # A NUL: ImportedCall names its field. JSON can only carry one escaped, and most lines hold
    # no backslash at all: a one-byte search (memchr) costs a fraction of the six-byte one's.
    if b"\\" in line and b"\\u0000" in line:
        return None
    call: FastCall
    try:
        call = _decode_exact(line)
    except (msgspec.DecodeError, ValueError, RecursionError):  # invalid UTF-8: UnicodeDecodeError
        # A value nested past Python's depth (msgspec decodes an exact field's value with it)
        # takes the slow path too, which names it.
        # Another key: msgspec skips its value unchecked, so check the line itself.
        if b"\\u" in line or (not line.isascii() and not _is_utf8(line)):
            return None
        if _brackets(line) > 64:
            return None
        try:
            call = _decode_fast(line)
        except (msgspec.DecodeError, ValueError):
            return None
    else:
        survey, comment = call.postCallSurvey, call.voiceComment
        if (survey.__class__ is not str or comment.__class__ is not str) and _brackets(line) > 64:
            return None
    call_id = call.callId
    if not _plain_call_id(call_id):
        return None
    if (
        call.agentHoldCount.__class__ is str
        or call.agentMuteCount.__class__ is str
        or call.sourceVersion.__class__ is str
    ):
        return None
    raw = bytes(call.startTime)
    try:
        if raw.isdigit():
            start = int(raw)
        elif raw == b"null" and call.callDate is not None:
            start = clock.epoch_ms(call.callDate)
            start = start_by_id(call_id, call.callDate, start, clock)  # ValueError: the slow path
        else:
            return None
        if not MIN_START_MS <= start <= MAX_START_MS:
            return None
        return _row(call, start, _numbers(call))
    except ValueError:
        return None


def _brackets(line: bytes) -> int:
    # At least the depth of the line's nesting: few rule out nesting ImportedCall refuses.
    return line.count(b"[") + line.count(b"{")


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def _unstorable_field(source: dict[str, Any]) -> str | None:
    """The first field of a decoded call holding a lone surrogate or nesting past what JSON
    encoding allows: such a value could be neither stored nor answered."""
    try:
        orjson.dumps(source, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        for key, value in source.items():
            try:
                orjson.dumps({key: value}, option=orjson.OPT_NON_STR_KEYS)
            except orjson.JSONEncodeError:
                return str(key).encode(errors="backslashreplace").decode()
    return None


def parse_call(
    source: str | bytes | dict[str, Any], clock: LocalTimeReader, where: str
) -> tuple[tuple[Any, ...] | None, list[FieldError]]:
    """Validate one call (a JSON line or a decoded object) into a row, or into its errors."""
    if not isinstance(source, dict):
        row = fast_row(source, clock)
        if row is not None:
            return row, []
    try:
        if isinstance(source, dict):
            if name := _unstorable_field(source):
                return None, [FieldError(where, f"{name} {_UNSTORABLE}")]
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
                reason = item["msg"].removeprefix("Invalid JSON: ")
                message = f"is not valid JSON ({reason})"
            elif item["type"] == "string_unicode":
                message = "is not valid UTF-8 text"
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


READER_FIELDS = (
    "callId",
    "startTime",
    "callDuration",
    "agentCallHandlingDuration",
    "timeInIVR",
    "holdDuration",
    "maximumHoldDuration",
    "waitTime",
    "abandonTime",
    "transferCount",
    "agentHoldCount",
    "queueId",
    "agentId",
    "callerName",
    "callerNumber",
    "dialedNumber",
    "callType",
    "callSubType",
    "hungupBy",
    "destinationNumber",
    "callerPhoneNumber",
)
"""A telephony reader's call as a tuple (`read_asterisk(typed=True)`): these fields in this
order, times and durations in int ms, counts int, queueId and agentId lists of str (or one
str), the rest str; the fields no reader gives are left out."""


def typed_row(call: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The stored row of a reader's call (a tuple in READER_FIELDS order, its numbers int by
    the reader's making), when it keeps the import's rules, else None: then `reader_row` takes
    it through the JSON import's path, which decides and words the errors.

    The checks are cheap on the values a reader makes (a few C calls, no per-field Python);
    a row made here is the row that path makes of the call (tests/test_records.py holds the
    two side by side)."""
    (
        call_id,
        start,
        duration,
        handling,
        ivr,
        hold,
        max_hold,
        wait,
        abandon,
        transfers,
        holds,
        queues,
        agents,
        name,
        number,
        dialed,
        call_type,
        sub_type,
        hungup_by,
        destination,
        phone,
    ) = call
    numbers = call[1:11]
    if set(map(type, numbers)) != _ONLY_INT or min(numbers) < 0:  # bool and float are not int
        return None
    if start > MAX_START_MS or max(call[2:9]) > MAX_MS or max(transfers, holds) > 1_000_000:
        return None
    texts = [call_id, *call[13:21]]
    texts += queues if queues.__class__ is list else (queues,)
    texts += agents if agents.__class__ is list else (agents,)
    try:
        joined = "".join(texts)
    except TypeError:  # not all text
        return None
    if len(joined) > 1024 and max(map(len, texts)) > 1024:
        return None
    if not _plain_call_id(call_id):
        return None
    if "\x00" in joined or not _encodable(joined):
        return None
    return (
        call_id,
        start,
        duration,
        handling + 0.0,
        ivr + 0.0,
        hold + 0.0,
        max_hold + 0.0,
        wait + 0.0,
        abandon + 0.0,
        transfers,
        0,
        holds,
        0,
        _split(queues, ","),
        _split(agents, ","),
        [],
        "",
        name,
        number,
        search_key(name),
        search_key(number),
        dialed,
        "",
        call_type,
        sub_type,
        hungup_by,
        "[]",
        "{}",
        "",
        destination,
        "",
        phone,
        None,  # source_version: a queue_log or Master.csv call has none
    )


_ONLY_INT = frozenset({int})


def _encodable(text: str) -> bool:
    """Whether `text` is Unicode that UTF-8 (and JSON) can hold: no lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def typed_columns(calls: Sequence[tuple[Any, ...]]) -> list[Sequence[Any]] | None:
    """The stored rows of a batch of a reader's calls, as columns (ROW_COLUMNS order): the rows
    `typed_row` makes of them, transposed, when it would make every one; else None, and the
    caller takes the calls one at a time (`reader_row`), which decides and words the errors.

    The checks are `typed_row`'s, each made once over a whole column by C-level builtins
    (`min`, `max`, `map`, one join of all the batch's text), which is what makes a reader's
    import cheap: per call, only the search keys of names and numbers not folded before in
    this process, and the split of queue and agent lists that are not already clean.
    tests/test_records.py holds the two side by side."""
    count = len(calls)
    if not count:
        return None
    try:
        columns = list(zip(*calls, strict=True))
    except ValueError:  # calls of different lengths
        return None
    if len(columns) != len(READER_FIELDS):
        return None
    numbers = columns[1:11]
    for column in numbers:
        if set(map(type, column)) != _ONLY_INT or min(column) < 0:
            return None
    if max(columns[1]) > MAX_START_MS or max(map(max, columns[2:9])) > MAX_MS:
        return None
    if max(max(columns[9]), max(columns[10])) > 1_000_000:
        return None
    call_ids = columns[0]
    singles = [call_ids, *columns[13:21]]
    lists = [set(map(type, column)) == _ONLY_LIST for column in columns[11:13]]
    multis = [
        list(itertools.chain.from_iterable(column)) if all_lists else _flat(column)
        for column, all_lists in zip(columns[11:13], lists, strict=True)
    ]
    texts = singles + multis
    try:
        joined = "".join(["".join(column) for column in texts])
    except TypeError:  # not all text
        return None
    if len(joined) > 1024 and max(max(map(len, column), default=0) for column in texts) > 1024:
        return None
    # Each callId as `_plain_call_id` wants it: 1-256 characters, no blank at either end.
    if not all(call_ids) or max(map(len, call_ids)) > 256 or "\x00" in joined:
        return None
    if tuple(map(str.strip, call_ids)) != call_ids or not _encodable(joined):
        return None
    (names, numbers_text, dialed, call_type, sub_type, hungup_by, destination, phone) = columns[
        13:21
    ]
    zeros, empty = [0] * count, [""] * count
    return [
        call_ids,
        columns[1],
        columns[2],
        *(list(map(float, column)) for column in columns[3:9]),
        columns[9],
        zeros,
        columns[10],
        zeros,
        *(
            list(column) if all_lists and _clean(flat) else [_split(v, ",") for v in column]
            for column, all_lists, flat in zip(columns[11:13], lists, multis, strict=True)
        ),
        [[]] * count,  # agentGroups: one empty list for all (the encoders only read them)
        empty,
        names,
        numbers_text,
        _search_keys(names),
        _search_keys(numbers_text),
        dialed,
        empty,
        call_type,
        sub_type,
        hungup_by,
        ["[]"] * count,
        ["{}"] * count,
        empty,
        destination,
        empty,
        phone,
        [None] * count,
    ]


_ONLY_LIST = frozenset({list})
_FOLDED: dict[str, str] = {}
_FOLDED_MOST = 200_000


def _clean(values: list[str]) -> bool:
    """Whether `_split` keeps each of these list items as it is: none empty or blank, none
    with a blank at either end."""
    return all(values) and list(map(str.strip, values)) == values


def _flat(column: Sequence[Any]) -> list[Any]:
    # The values of a queueId or agentId column: each a list of them, or one.
    flat: list[Any] = []
    for value in column:
        if value.__class__ is list:
            flat += value
        else:
            flat.append(value)
    return flat


def _search_keys(column: Sequence[str]) -> list[str]:
    # Callers repeat across a reader's calls: each distinct name or number is folded once (a
    # process's import worker keeps those it folded, up to a bound).
    keys = _FOLDED
    if len(keys) > _FOLDED_MOST:
        keys.clear()
    found: list[Any] = list(map(keys.get, column))  # the folded ones at C speed; None for others
    if None in found:
        for at, key in enumerate(found):
            if key is None:
                text = column[at]
                found[at] = keys[text] = search_key(text)
    return found


def reader_row(
    call: tuple[Any, ...] | dict[str, Any], clock: LocalTimeReader, where: str
) -> tuple[tuple[Any, ...] | None, list[FieldError]]:
    """Validate one call a telephony reader made into a row, or into its errors: a typed call
    (a READER_FIELDS tuple) by `typed_row` when it can vouch for it; anything else as a JSON
    line through `parse_call`, as the JSON import reads it."""
    if call.__class__ is tuple:
        row = typed_row(call)
        if row is not None:
            return row, []
        call = dict(zip(READER_FIELDS, call, strict=True))
    return parse_call(orjson.dumps(call), clock, where)
