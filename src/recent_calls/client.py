"""A typed client for any Recent Calls server: this project's, or the vendor's.

    from recent_calls.client import Query, RecentCallsClient, count_range, duration_range

    with RecentCallsClient() as client:  # RECENT_CALLS_BASE_URL, _API_KEY, _TOKEN, _REGION
        query = Query(duration="week", timezone="Europe/London", call_duration=duration_range(60))
        for call in client.iter_calls("acmecorp01", query):
            print(call.call_id, call.call_date, call.call_duration)

The exceptions, all raised on purpose, form one tree:

ClientError                      base of the client's errors (a RecentCallsError)
+-- ConfigurationError           no API key or token, an unknown region
+-- TransportError               no answer after every retry: connection refused, timeout
+-- UnexpectedResponse           a success answer that is not the documented shape
+-- APIError                     an error answer; carries status, problem document, request
    +-- BadRequestError          400, with `errors`: one FieldError per bad field
    +-- AuthenticationError      401
    +-- PermissionDeniedError    403
    +-- NotFoundError            404
    +-- PayloadTooLargeError     413
    +-- UnsupportedMediaTypeError 415
    +-- RateLimitError           429 after every retry, or a Retry-After beyond the limit
    +-- ServerError              5xx after every retry
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from . import __version__
from .errors import FieldError, RecentCallsError
from .render import DATA_KEYS

__all__ = [
    "CALL_KEYS",
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Call",
    "ClientError",
    "ConfigurationError",
    "Duration",
    "FieldError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PushResult",
    "Query",
    "RateLimitError",
    "RecentCallsClient",
    "Region",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "UnsupportedMediaTypeError",
    "count_range",
    "duration_range",
    "epoch_ms",
    "parse_call",
]

DEFAULT_BASE_URL = "https://api.8x8.com"
MAX_ROWS = 5000
PUSH_BATCH = 1000

Duration = Literal["today", "yesterday", "week", "month", "allhistory"]
Region = Literal["us", "uk"]
SortOrder = Literal["asc", "desc"]
Instant = int | datetime
"""Epoch milliseconds (UTC), or an aware datetime."""

# The keys of a response `data` item, in the reference's order (the renderer's own list).
CALL_KEYS = DATA_KEYS


# -- errors ------------------------------------------------------------------------------------


class ClientError(RecentCallsError):
    """Base class of every error the client raises."""


class ConfigurationError(ClientError):
    """The client was not given what it needs (credentials, a known region)."""


class TransportError(ClientError):
    """The server could not be reached, or did not answer in time, after every retry."""

    def __init__(self, message: str, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class UnexpectedResponse(ClientError):
    """A success answer whose body is not the documented shape."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class APIError(ClientError):
    """An error answer; `problem` is its RFC 9457 problem document (or what the body held)."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        self.response = response
        self.request = response.request
        self.status = response.status_code
        self.problem = problem
        self.title = str(problem.get("title") or response.reason_phrase)
        self.detail = str(problem.get("detail") or "")
        message = f"{self.status} {self.title}"
        super().__init__(f"{message}: {self.detail}" if self.detail else message)


class BadRequestError(APIError):
    """400: the request has invalid fields, each named in `errors`."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        super().__init__(response, problem)
        self.errors = [
            FieldError(str(item.get("field", "")), str(item.get("message", "")))
            for item in problem.get("errors") or []
            if isinstance(item, dict)
        ]


class AuthenticationError(APIError):
    """401: the API key or token is missing, unknown or revoked."""


class PermissionDeniedError(APIError):
    """403: the credential may not read this tenant in this region."""


class NotFoundError(APIError):
    """404: no such version, region or path."""


class PayloadTooLargeError(APIError):
    """413: the body is too large."""


class UnsupportedMediaTypeError(APIError):
    """415: the body is not sent as application/json."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the wait the server asked for, in seconds."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        super().__init__(response, problem)
        self.retry_after = _retry_after(response)


class ServerError(APIError):
    """5xx: the server failed or is unavailable."""


_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
}


def _api_error(response: httpx.Response) -> APIError:
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"status": response.status_code, "detail": response.text[:1000]}
    kind = _ERRORS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else APIError
    return kind(response, problem)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer asks the caller to wait (delay-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# -- requests ----------------------------------------------------------------------------------


def _bound(value: int | None, name: str) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None (unbounded)")
    return value


def count_range(low: int | None = None, high: int | None = None) -> str:
    """A count filter, inclusive: `count_range(2)` is "range:2,-1" (two or more)."""
    lo, hi = _bound(low, "low"), _bound(high, "high")
    if hi != -1 and lo > hi:
        raise ValueError(f"low {lo} is above high {hi}")
    return f"range:{lo},{hi}"


def duration_range(
    low: int | None = None, high: int | None = None, unit: Literal["sec", "min"] = "sec"
) -> str:
    """A duration filter in whole seconds or minutes, inclusive: `duration_range(60)` is
    "sec:60,-1" (a minute or longer); `duration_range(5, unit="min")` is "min:5,-1"."""
    if unit not in ("sec", "min"):
        raise ValueError('unit must be "sec" or "min"')
    lo, hi = _bound(low, "low"), _bound(high, "high")
    if hi != -1 and lo > hi:
        raise ValueError(f"low {lo} is above high {hi}")
    return f"{unit}:{lo},{hi}"


def epoch_ms(instant: Instant) -> int:
    """Epoch milliseconds of an aware datetime (or of epoch milliseconds, unchanged)."""
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ValueError("a datetime for a time range must be aware (carry a tzinfo)")
        delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
        return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    return int(instant)


_BODY_NAMES = {
    "agent_hold_count": "agentHoldCount",
    "agent_mute_count": "agentMuteCount",
    "transfer_count": "transferCount",
    "call_duration": "callDuration",
    "time_in_queue": "timeInQueue",
    "time_in_ivr": "timeInIVR",
    "agent_call_duration": "agentCallDuration",
    "agent_hold_duration": "agentHoldDuration",
    "sort_column": "sortColumn",
    "sort_order": "sortOrder",
}
_LIST_NAMES = {
    "agents": "tenantAgents",
    "queues": "tenantQueues",
    "groups": "tenantGroups",
    "channels": "tenantChannels",
}


@dataclass(frozen=True)
class Query:
    """What to ask for: a window, a timezone and filters (all ANDed; None or empty: any).

    With neither `duration` nor `time_range`, the whole history is asked for. `time_range`
    is inclusive at both ends. Count filters take `count_range(...)`, duration filters
    `duration_range(...)` (or the API's own strings).
    """

    duration: Duration | None = None
    time_range: tuple[Instant, Instant] | None = None
    timezone: str = "GMT"
    caller: str | None = None
    agents: Sequence[str] = ()
    queues: Sequence[str] = ()
    groups: Sequence[str] = ()
    channels: Sequence[str] = ()
    agent_hold_count: str | None = None
    agent_mute_count: str | None = None
    transfer_count: str | None = None
    call_duration: str | None = None
    time_in_queue: str | None = None
    time_in_ivr: str | None = None
    agent_call_duration: str | None = None
    agent_hold_duration: str | None = None
    sort_column: str | None = None
    sort_order: SortOrder | None = None

    def window(self) -> dict[str, str]:
        """The request's window fields."""
        if self.duration is not None:
            return {"duration": self.duration}
        if self.time_range is not None:
            start, end = (epoch_ms(instant) for instant in self.time_range)
            return {"timeRange": f"{start}-{end}"}
        return {"duration": "allhistory"}

    def body(self, tenant_id: str, page: int = 1, rows: int = 500) -> dict[str, Any]:
        """The JSON body of a recentCallData request for one page."""
        body: dict[str, Any] = {"tenantId": tenant_id, "page": page, "rows": rows}
        body.update(self.window())
        body["timezone"] = self.timezone
        if self.caller:
            body["callerName"] = [self.caller]
        for attribute, name in _LIST_NAMES.items():
            values = getattr(self, attribute)
            if values:
                if isinstance(values, str):
                    raise TypeError(f"{attribute} must be a sequence of strings, not a string")
                body[name] = list(values)
        for attribute, name in _BODY_NAMES.items():
            value = getattr(self, attribute)
            if value is not None:
                body[name] = value
        return body


# -- records -----------------------------------------------------------------------------------


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


def _page(document: Any, response: httpx.Response) -> Page:
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


# -- the client --------------------------------------------------------------------------------


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # an error raised outside of a request has none
        return None


def _environment(value: str | None, name: str) -> str | None:
    return value if value is not None else (os.environ.get(name) or None)


class RecentCallsClient:
    """A Recent Calls API client; arguments left out are read from RECENT_CALLS_* variables.

    Every request is retried on connection errors and timeouts, on 5xx answers, and on 429
    answers (after the `Retry-After` they ask for, up to `max_retry_after` seconds), at most
    `retries` times, with exponential backoff and jitter between attempts.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        region: str | None = None,
        version: str = "v1",
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = (
            _environment(base_url, "RECENT_CALLS_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        key = _environment(api_key, "RECENT_CALLS_API_KEY")
        secret = _environment(token, "RECENT_CALLS_TOKEN")
        if not key or not secret:
            raise ConfigurationError(
                "an API key and a token are needed: pass api_key and token, or set "
                "RECENT_CALLS_API_KEY and RECENT_CALLS_TOKEN"
            )
        chosen = _environment(region, "RECENT_CALLS_REGION") or "us"
        if chosen not in ("us", "uk"):
            raise ConfigurationError(f"region must be us or uk, not {chosen!r}")
        self.region: str = chosen
        self.version = version
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={
                "8x8-apikey": key,
                "token": secret,
                "Accept": "application/json",
                "User-Agent": f"recent-calls-client/{__version__}",
            },
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RecentCallsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecentCallsClient({self.base_url!r}, region={self.region!r})"

    # -- the API ---------------------------------------------------------------------------

    def page(
        self, tenant_id: str, query: Query | None = None, *, page: int = 1, rows: int = 500
    ) -> Page:
        """One page of the tenant's calls matching `query`."""
        if not 1 <= rows <= MAX_ROWS:
            raise ValueError(f"rows must be 1..{MAX_ROWS}")
        body = (query or Query()).body(tenant_id, page, rows)
        path = f"/customerexperience/{self.version}/recentCallData/{self.region}"
        document, response = self._post(path, body)
        return _page(document, response)

    def iter_pages(
        self, tenant_id: str, query: Query | None = None, *, rows: int = 1000, first_page: int = 1
    ) -> Iterator[Page]:
        """Every page from `first_page` on, until a page comes back with no data."""
        number = first_page
        while True:
            page = self.page(tenant_id, query, page=number, rows=rows)
            if not page.calls:
                return
            yield page
            number += 1

    def iter_calls(
        self, tenant_id: str, query: Query | None = None, *, rows: int = 1000
    ) -> Iterator[Call]:
        """Every matching call, page after page until the data runs out.

        When calls arrive during the walk, newer ones push older ones down a page; a call
        already given on the page before is not given again.
        """
        previous: set[str] = set()
        for page in self.iter_pages(tenant_id, query, rows=rows):
            for call in page.calls:
                if call.call_id not in previous:
                    yield call
            previous = {call.call_id for call in page.calls}

    def count(self, tenant_id: str, query: Query | None = None) -> int:
        """How many calls match `query` (the answer's `hits`)."""
        return self.page(tenant_id, query, rows=1).hits

    def push(
        self, tenant_id: str, calls: Iterable[Mapping[str, Any]], *, batch: int = PUSH_BATCH
    ) -> PushResult:
        """Push ended calls (import shape) in batches; each batch is atomic and idempotent."""
        path = f"/customerexperience/{self.version}/calls/{self.region}"
        received = inserted = replaced = 0
        chunk: list[Mapping[str, Any]] = []

        def send() -> None:
            nonlocal received, inserted, replaced
            document, response = self._post(path, {"tenantId": tenant_id, "calls": chunk})
            if not isinstance(document, dict):
                raise UnexpectedResponse("the push answer is not a JSON object", response)
            received += int(document.get("received", 0))
            inserted += int(document.get("inserted", 0))
            replaced += int(document.get("replaced", 0))

        for call in calls:
            chunk.append(call)
            if len(chunk) >= batch:
                send()
                chunk = []
        if chunk:
            send()
        return PushResult(received, inserted, replaced)

    # -- transport -------------------------------------------------------------------------

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling * (0.5 + self._jitter.random() / 2)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[Any, httpx.Response]:
        content = orjson.dumps(body)
        headers = {"Content-Type": "application/json"}
        attempt = 0
        while True:
            try:
                response = self._http.post(path, content=content, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise TransportError(
                        f"no answer from {self.base_url} after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {exc}",
                        _request_of(exc),
                    ) from exc
                self._sleep(self._backoff_delay(attempt))
                attempt += 1
                continue
            status = response.status_code
            if (status == 429 or status in (500, 502, 503, 504)) and attempt < self.retries:
                wait = _retry_after(response)
                if wait is None:
                    wait = self._backoff_delay(attempt)
                if wait <= self.max_retry_after:
                    self._sleep(wait)
                    attempt += 1
                    continue
            if status >= 400:
                raise _api_error(response)
            try:
                return orjson.loads(response.content), response
            except orjson.JSONDecodeError:
                raise UnexpectedResponse(
                    f"the answer ({status}) is not JSON: {response.text[:200]!r}", response
                ) from None
