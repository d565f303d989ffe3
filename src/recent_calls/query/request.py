"""The recentCallData request body: validation into a typed `CallQuery`.

Every rule of SPEC.md's request table lives here. Validation reports every bad field at once,
each with its name and the form that was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.fields import (
    COUNT_FILTERS,
    DURATION_FILTERS,
    DURATION_UNITS,
    DURATIONS,
    LIST_FILTERS,
    OUTCOMES,
    SORT_COLUMNS,
)
from recent_calls.query.windows import Window, duration_window, parse_time_range, zone

MAX_ROWS = 5000
MAX_PAGE = 1_000_000_000
MAX_LIST = 1000
MAX_TEXT = 256


EXPECTED = {
    "body": "a JSON object",
    "tenantId": "a non-empty string",
    "page": 'an integer >= 1, as a JSON number or a numeric string (1 or "1")',
    "rows": f"an integer from 1 to {MAX_ROWS}, as a JSON number or a numeric string",
    "duration": "one of " + ", ".join(DURATIONS) + " (or a timeRange)",
    "timeRange": '"START-END" in epoch milliseconds UTC, e.g. "1665580905000-1665598905000"',
    "timezone": 'an IANA time zone name, e.g. "America/New_York" (default "GMT")',
    "callerName": "an array of at most one string",
    "sortColumn": "one of " + ", ".join(SORT_COLUMNS),
    "sortOrder": '"asc" or "desc"',
    **{name: "an array of strings" for name in LIST_FILTERS},
    "outcome": "an array of " + ", ".join(OUTCOMES),
    **{name: '"range:X,Y" with integers X <= Y, -1 meaning unbounded' for name in COUNT_FILTERS},
    **{
        name: '"sec:X,Y" or "min:X,Y" with integers X <= Y, -1 meaning unbounded'
        for name in DURATION_FILTERS
    },
}


@dataclass(frozen=True)
class CountRange:
    """An inclusive range over a count; None is unbounded on that side."""

    low: int | None
    high: int | None


@dataclass(frozen=True)
class DurationRange:
    """An inclusive range over a duration truncated to whole `unit_ms` periods."""

    unit_ms: int
    low: int | None
    high: int | None

    def bounds_ms(self) -> tuple[int | None, int | None]:
        """The same range over raw milliseconds, half-open: [low_ms, high_ms)."""
        low = self.low * self.unit_ms if self.low is not None else None
        high = (self.high + 1) * self.unit_ms if self.high is not None else None
        return low, high


def _fail(reason: str) -> PydanticCustomError:
    return PydanticCustomError("recent_calls", reason)


def _absent_if_empty(value: Any) -> Any:
    return None if value == "" else value


def _integer(value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail("a boolean is not a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(f"{value!r} is not a whole number")
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,12}(\.0*)?", text, re.ASCII):
            raise _fail(f"{value!r} is not an integer")
        number = int(float(text)) if "." in text else int(text)
    else:
        raise _fail(f"a {type(value).__name__} is not a number")
    if not low <= number <= high:
        raise _fail(f"{number} is out of range {low}..{high}")
    return number


def _required(value: Any, low: int, high: int) -> int:
    # SPEC: null means absent, and page and rows may not be absent.
    number = _integer(value, low, high)
    if number is None:
        raise _fail("is required")
    return number


def _page(value: Any) -> int:
    return _required(value, 1, MAX_PAGE)


def _rows(value: Any) -> int:
    return _required(value, 1, MAX_ROWS)


def _tenant(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"a {type(value).__name__} is not a string")
    if not value.strip():
        raise _fail("the tenant id is empty")
    if len(value) > MAX_TEXT:
        raise _fail(f"longer than {MAX_TEXT} characters")
    return value


def _choice(options: tuple[str, ...], *, fold: bool = False) -> Any:
    def check(value: Any) -> str | None:
        value = _absent_if_empty(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _fail(f"a {type(value).__name__} is not a string")
        key = value.lower() if fold else value
        if key not in options:
            raise _fail(f"{value[:MAX_TEXT]!r} is not a known value")
        return key

    return check


def _timezone(value: Any) -> str | None:
    value = _absent_if_empty(value)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"a {type(value).__name__} is not a string")
    try:
        zone(value)
    except KeyError:
        raise _fail(f"{value[:MAX_TEXT]!r} is not an IANA time zone") from None
    return value


def _string_list(max_items: int) -> Any:
    def check(value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise _fail(f"a {type(value).__name__} is not an array")
        if len(value) > max_items:
            raise _fail(f"{len(value)} items given, at most {max_items} allowed")
        for item in value:
            if not isinstance(item, str):
                raise _fail(f"an item is a {type(item).__name__}, not a string")
            if len(item) > MAX_TEXT:
                raise _fail(f"an item is longer than {MAX_TEXT} characters")
            if "\x00" in item:
                raise _fail("an item contains a NUL character")
        return tuple(value)

    return check


_RANGE = re.compile(r"\s*([A-Za-z]+)\s*:\s*(-?[0-9]{1,12})\s*,\s*(-?[0-9]{1,12})\s*", re.ASCII)


def _bounds(text: str, prefixes: tuple[str, ...]) -> tuple[str, int | None, int | None]:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise _fail(f"{text[:MAX_TEXT]!r} is not of the form PREFIX:X,Y")
    prefix = match[1].lower()
    if prefix not in prefixes:
        raise _fail(f"the prefix {match[1]!r} is not one of " + ", ".join(prefixes))
    low, high = int(match[2]), int(match[3])
    for bound in (low, high):
        if bound < -1:
            raise _fail(f"{bound} is negative; only -1 (unbounded) is allowed")
    if high != -1 and low > high:
        raise _fail(f"the lower bound {low} is above the upper bound {high}")
    return prefix, (None if low == -1 else low), (None if high == -1 else high)


def _count_range(value: Any) -> CountRange | None:
    value = _absent_if_empty(value)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"a {type(value).__name__} is not a string")
    _, low, high = _bounds(value, ("range",))
    return CountRange(low, high)


_UNIT_MS = dict(zip(DURATION_UNITS, (1000, 60_000), strict=True))


def _duration_range(value: Any) -> DurationRange | None:
    value = _absent_if_empty(value)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"a {type(value).__name__} is not a string")
    prefix, low, high = _bounds(value, tuple(_UNIT_MS))
    return DurationRange(_UNIT_MS[prefix], low, high)


def _schema(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema(schema)


_INTEGERISH = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_COUNT = {"type": "string", "pattern": "^range:-?[0-9]+,-?[0-9]+$", "example": "range:2,-1"}
_DURATION = {"type": "string", "pattern": "^(sec|min):-?[0-9]+,-?[0-9]+$", "example": "sec:60,-1"}

Page = Annotated[int, BeforeValidator(_page), _schema({**_INTEGERISH, "minimum": 1})]
Rows = Annotated[
    int, BeforeValidator(_rows), _schema({**_INTEGERISH, "minimum": 1, "maximum": MAX_ROWS})
]
Strings = Annotated[
    tuple[str, ...] | None, BeforeValidator(_string_list(MAX_LIST)), _schema(_STRINGS)
]


def _outcomes(value: Any) -> tuple[str, ...] | None:
    chosen = _string_list(MAX_LIST)(value)
    if chosen is None:
        return None
    for item in chosen:
        if item not in OUTCOMES:
            raise _fail(f"{item[:MAX_TEXT]!r} is not a known value")
    return tuple(sorted(set(chosen), key=OUTCOMES.index))


Count = Annotated[CountRange | None, BeforeValidator(_count_range), _schema(_COUNT)]
Duration = Annotated[DurationRange | None, BeforeValidator(_duration_range), _schema(_DURATION)]


class RecentCallsRequest(BaseModel):
    """The body of POST /customerexperience/v1/recentCallData/{region}."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    tenantId: Annotated[
        str, BeforeValidator(_tenant), _schema({"type": "string", "minLength": 1})
    ] = Field(description="The tenant whose calls are asked for.", examples=["acmecorp01"])
    page: Page = Field(description="Page number, the first is 1.")
    rows: Rows = Field(description=f"Rows per page, at most {MAX_ROWS}.")
    duration: Annotated[
        str | None,
        BeforeValidator(_choice(DURATIONS)),
        _schema({"type": "string", "enum": list(DURATIONS)}),
    ] = Field(None, description="A named window; wins over timeRange when both are given.")
    timeRange: Annotated[
        Any, _schema({"type": "string", "example": "1665580905000-1665598905000"})
    ] = Field(None, description='"START-END" in epoch milliseconds UTC, inclusive.')
    timezone: Annotated[
        str | None, BeforeValidator(_timezone), _schema({"type": "string", "default": "GMT"})
    ] = Field(None, description="IANA zone for duration windows and rendered dates.")
    callerName: Annotated[
        tuple[str, ...] | None,
        BeforeValidator(_string_list(1)),
        _schema({**_STRINGS, "maxItems": 1}),
    ] = Field(None, description="Substring of the caller's name or number, case-insensitive.")
    tenantAgents: Strings = Field(None, description="Agent ids; a call matches any of them.")
    tenantQueues: Strings = Field(None, description="Queue ids; a call matches any of them.")
    tenantGroups: Strings = Field(None, description="Agent group ids; any of them.")
    tenantChannels: Strings = Field(None, description="Channels (dialed numbers); any of them.")
    outcome: Annotated[
        tuple[str, ...] | None,
        BeforeValidator(_outcomes),
        _schema({"type": "array", "items": {"type": "string", "enum": list(OUTCOMES)}}),
    ] = Field(
        None,
        description="Extension: answered (an agent handled it), abandoned (not answered, with an "
        "abandon time) or other calls; a call matches any of them.",
    )
    agentHoldCount: Count = None
    agentMuteCount: Count = None
    transferCount: Count = None
    callDuration: Duration = None
    timeInQueue: Duration = None
    timeInIVR: Duration = None
    agentCallDuration: Duration = None
    agentHoldDuration: Duration = None
    sortColumn: Annotated[
        str | None,
        BeforeValidator(_choice(SORT_COLUMNS)),
        _schema({"type": "string", "enum": list(SORT_COLUMNS)}),
    ] = Field(None, description="Extension: the column to order by (default callDate).")
    sortOrder: Annotated[
        Literal["asc", "desc"] | None,
        BeforeValidator(_choice(("asc", "desc"), fold=True)),
        _schema({"type": "string", "enum": ["asc", "desc"]}),
    ] = Field(None, description="Extension: asc or desc (default desc).")


@dataclass(frozen=True)
class CallQuery:
    """A validated request: which window, which filters, which page, in what order.

    The tenant it names is not part of it: storage reads calls only of the `Tenant` the caller's
    credential is bound to (api/routes/common.py `bind_tenant`).
    """

    request: RecentCallsRequest
    window: Window
    timezone: str

    @property
    def page(self) -> int:
        return self.request.page

    @property
    def rows(self) -> int:
        return self.request.rows

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.rows

    @property
    def sort_column(self) -> str:
        return self.request.sortColumn or "callDate"

    @property
    def descending(self) -> bool:
        return self.request.sortOrder != "asc"


def _message(field: str, reason: str) -> str:
    return f"{reason}; expected {EXPECTED.get(field, 'a valid value')}"


def _field_errors(error: ValidationError) -> list[FieldError]:
    found: list[FieldError] = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "body"
        reason = "is required" if item["type"] == "missing" else str(item["msg"])
        found.append(FieldError(field, _message(field, reason)))
    return found


def parse_request(body: Any, now_ms: int) -> CallQuery:
    """Validate a decoded JSON body; raise InvalidRequest naming every bad field."""
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else f"a {type(body).__name__}"
        raise InvalidRequest([FieldError("body", _message("body", f"{kind} was sent"))])
    errors: list[FieldError] = []
    request: RecentCallsRequest | None = None
    try:
        request = RecentCallsRequest.model_validate(body)
    except ValidationError as exc:
        errors.extend(_field_errors(exc))

    window: Window | None = None
    duration_given = _absent_if_empty(body.get("duration")) is not None
    time_range = _absent_if_empty(body.get("timeRange"))
    if not duration_given:
        if time_range is None:
            errors.append(
                FieldError("duration", _message("duration", "neither duration nor timeRange given"))
            )
        elif not isinstance(time_range, str):
            reason = f"a {type(time_range).__name__} is not a string"
            errors.append(FieldError("timeRange", _message("timeRange", reason)))
        else:
            try:
                window = parse_time_range(time_range)
            except ValueError as exc:
                errors.append(FieldError("timeRange", _message("timeRange", str(exc))))

    if errors or request is None:
        raise InvalidRequest(errors)
    timezone = request.timezone or "GMT"
    if request.duration is not None:
        window = duration_window(request.duration, zone(timezone), now_ms)
    assert window is not None
    return CallQuery(request=request, window=window, timezone=timezone)


def parse_tenant_body(body: Any) -> str:
    """The tenantId of a body that holds nothing else that matters (recentCallFacets)."""
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", _message("body", "something else was sent"))])
    tenant_id = body.get("tenantId")
    if not isinstance(tenant_id, str) or not tenant_id.strip() or len(tenant_id) > MAX_TEXT:
        raise InvalidRequest([FieldError("tenantId", "is required; expected a non-empty string")])
    return tenant_id
