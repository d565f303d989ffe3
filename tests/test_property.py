"""Property tests: the real API's hits and page order against tests/reference.py.

One live server per test function; every generated example gets a tenant of its own, so the
examples never see each other's calls.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recent_calls.query.windows import duration_window
from tests import reference
from tests.reference import SORT_COLUMNS, matching_ids
from tests.support import FROZEN_NOW, LiveServer, ServerFactory

NOW_MS = int(FROZEN_NOW)
DAY = 86_400_000
SPREAD = 41 * DAY  # how far from "now" the generated start times reach

DST_ZONES = ("America/New_York", "Europe/London", "Pacific/Auckland", "Australia/Lord_Howe")
REQUEST_ZONES = (*DST_ZONES, "GMT", "UTC", "Asia/Kolkata")

AGENTS = ("agA", "agb", "AgZ", "ag_1")
QUEUES = ("100", "2583", "Q9", "q10")
GROUPS = ("10", "20", "G3")
CHANNELS = ("18005550000", "14405558069", "16695551913")
NAMES = (
    "Pat Caller", "pat caller", "PAT", "David Demoperson", "ACME CO", "acme co", "Ömer Yılmaz",
    "ÖMER", "Straße", "STRASSE", "100% Real_Co", "back\\slash", "O'Brien", 'Say "hi"', "",
    "ß", "Ωmega", "under_score", "ΟΔΥΣΣΕΥΣ", "Οδυσσεύς",
)  # fmt: skip
NUMBERS = ("7325551212", "4085551414", "8045550915", "+44 20 7946 0000", "", "5551212")
SEARCH_TERMS = (
    "pat", "PAT", "ömer", "ÖMER", "omer", "ß", "ss", "SS", "strasse", "%", "_", "\\", "'", '"',
    "0% real_", "555", "5551212", "1212", "acme", "ACME co", "zzz", "ω", " ", "+44", "a",
)  # fmt: skip
# terms whose lower() and casefold() differ, or that SQL LIKE would treat as patterns
TRICKY_TERMS = ("ß", "SS", "straße", "ÖMER", "ömer y", "%", "_", "\\", "'", '"', "ς", "Σ")
DURATIONS = ("allhistory", "month", "week", "today", "yesterday")
EDGE_MS = (0, 1, 999, 1000, 1001, 1999, 5000, 5999, 59_999, 60_000, 60_001, 119_999, 120_000)

_tenants = itertools.count(1)

PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------- instants

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _offset(zone: ZoneInfo, ms: int) -> timedelta | None:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(zone).utcoffset()


def _transitions(zone: ZoneInfo, low: int, high: int) -> list[int]:
    """The exact instants (ms) in [low, high] at which `zone`'s UTC offset changes."""
    found = []
    step = 15 * 60_000
    for t in range(low, high, step):
        if _offset(zone, t) != _offset(zone, t + step):
            a, b = t, t + step  # offset(a) differs from offset(b): bisect to the first ms
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(zone, mid) == _offset(zone, a):
                    a = mid
                else:
                    b = mid
            found.append(b)
    return found


def _midnights(zone: ZoneInfo, low: int, high: int) -> list[int]:
    day = (_EPOCH + timedelta(milliseconds=low)).astimezone(zone).date()
    last = (_EPOCH + timedelta(milliseconds=high)).astimezone(zone).date()
    found = []
    while day <= last:
        local = datetime(day.year, day.month, day.day, tzinfo=zone)
        found.append((local.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1))
        day += timedelta(days=1)
    return found


@cache
def special_instants(now_ms: int) -> tuple[int, ...]:
    """Local midnights and DST changes near `now_ms` in several zones, each +-1 ms, and now."""
    low, high = now_ms - SPREAD, now_ms + SPREAD
    points: set[int] = {now_ms, now_ms - 1, now_ms + 1}
    for name in (*DST_ZONES, "GMT", "Asia/Kolkata"):
        zone = ZoneInfo(name)
        for t in _midnights(zone, low, high):
            points.update((t - 1, t, t + 1))
        for t in _transitions(zone, low, high):
            for delta in (-3_600_000, -1, 0, 1, 1_800_000, 3_600_000):
                points.add(t + delta)
    return tuple(sorted(p for p in points if low <= p <= high))


@cache
def instants(now_ms: int) -> st.SearchStrategy[int]:
    """Start times mostly within days of now (so today/yesterday/week hit), some up to 41 days."""
    specials = special_instants(now_ms)
    near = [t for t in specials if abs(t - now_ms) <= 9 * DAY]
    return st.one_of(
        st.sampled_from(near),
        st.sampled_from(specials),
        st.integers(now_ms - 2 * DAY, now_ms + DAY),
        st.integers(now_ms - SPREAD, now_ms + SPREAD),
    )


# ---------------------------------------------------------------------------- calls

_millis = st.one_of(st.sampled_from(EDGE_MS), st.integers(0, 400_000))


def _one_decimal(ms: int) -> str:
    return f"{ms}.0"


def _subset(vocabulary: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(vocabulary), max_size=3, unique=True)


# A call's fields besides its id and start, built once: making strategies costs more than drawing.
_CALL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "callDuration": _millis.map(str),
    "agentCallHandlingDuration": _millis.map(_one_decimal),
    "timeInIVR": _millis.map(_one_decimal),
    "holdDuration": _millis.map(_one_decimal),
    "maximumHoldDuration": _millis.map(_one_decimal),
    "waitTime": _millis.map(_one_decimal),
    "abandonTime": st.sampled_from((0, 0, 1000, 2500, 61_000)).map(_one_decimal),
    "transferCount": st.integers(0, 4).map(_one_decimal),
    "muteDuration": st.sampled_from((0, 701, 999, 1000, 10_462)),
    "agentHoldCount": st.integers(0, 4),
    "agentMuteCount": st.integers(0, 4),
    "queueId": _subset(QUEUES),
    "agentId": _subset(AGENTS),
    "agentGroup": _subset(GROUPS),
    "dialedNumber": st.sampled_from(CHANNELS),
    "callerName": st.sampled_from(NAMES),
    "callerNumber": st.sampled_from(NUMBERS),
}


@st.composite
def call_lists(draw: st.DrawFn, now_ms: int, edges: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """0-40 calls with unique ids; start times often shared (so callId breaks ties) and often
    exactly on, or a millisecond either side of, the `edges` of the request's window."""
    count = draw(st.integers(0, 40))
    name = st.text("abcXYZ019-_.", min_size=1, max_size=4)
    ids = draw(st.lists(name, min_size=count, max_size=count, unique=True))
    pool = draw(st.lists(instants(now_ms), min_size=1, max_size=5))
    choices = [st.sampled_from(pool), instants(now_ms)]
    if edges:
        choices.append(st.sampled_from(edges))
    start = st.one_of(choices)
    fields = st.fixed_dictionaries({"startTime": start, **_CALL_FIELDS})
    calls = []
    for call_id in ids:
        calls.append({"callId": call_id, **draw(fields)})
    return calls


# ---------------------------------------------------------------------------- bodies


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is absent (the sentinel ...), null, or a value; absent and null match all."""
    return st.one_of(st.just(...), st.just(...), st.none(), strategy, strategy)


def _count_range() -> st.SearchStrategy[str]:
    return st.integers(-1, 4).flatmap(
        lambda x: st.one_of(st.just(-1), st.integers(max(x, 0), max(x, 0) + 4)).map(
            lambda y: f"range:{x},{y}"
        )
    )


def _duration_range() -> st.SearchStrategy[str]:
    def bounded(period: str, lows: tuple[int, ...], top: int) -> st.SearchStrategy[str]:
        low = st.one_of(st.sampled_from(lows), st.integers(-1, top))
        return low.flatmap(
            lambda x: st.one_of(st.just(-1), st.just(max(x, 0)), st.integers(max(x, 0), top)).map(
                lambda y: f"{period}:{x},{y}"
            )
        )

    return st.one_of(bounded("sec", (-1, 0, 1, 5, 60), 400), bounded("min", (-1, 0, 1, 2), 7))


def _time_range(now_ms: int) -> st.SearchStrategy[str]:
    return st.tuples(instants(now_ms), instants(now_ms), st.sampled_from(("-", " - ", "- "))).map(
        lambda t: f"{min(t[0], t[1])}{t[2]}{max(t[0], t[1])}"
    )


def _caller_search() -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.just([]),
        st.just([""]),
        st.sampled_from(TRICKY_TERMS).map(lambda term: [term]),
        st.tuples(st.sampled_from(NAMES + NUMBERS), st.integers(0, 12), st.integers(1, 6)).map(
            lambda t: [t[0][t[1] : t[1] + t[2]]]
        ),
        st.sampled_from(SEARCH_TERMS).map(lambda term: [term]),
    )


# The filters a body may carry besides its window, built once.
_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "tenantAgents": st.lists(st.sampled_from((*AGENTS, "agNobody")), max_size=3),
    "tenantQueues": st.lists(st.sampled_from((*QUEUES, "999")), max_size=3),
    "tenantGroups": st.lists(st.sampled_from((*GROUPS, "77")), max_size=3),
    "tenantChannels": st.lists(st.sampled_from((*CHANNELS, "19005550000")), max_size=2),
    "agentHoldCount": _count_range(),
    "agentMuteCount": _count_range(),
    "transferCount": _count_range(),
    "callDuration": _duration_range(),
    "timeInQueue": _duration_range(),
    "timeInIVR": _duration_range(),
    "agentCallDuration": _duration_range(),
    "agentHoldDuration": _duration_range(),
}
_MAYBE_OPTIONAL = {field: _maybe(strategy) for field, strategy in _OPTIONAL.items()}


@st.composite
def bodies(draw: st.DrawFn, now_ms: int) -> dict[str, Any]:
    """Valid request bodies with a random subset of every filter."""
    body: dict[str, Any] = {
        "page": draw(st.one_of(st.just(1), st.just(1), st.integers(1, 4))),
        "rows": draw(st.integers(1, 10)),
    }
    if draw(st.booleans()):
        body["page"], body["rows"] = str(body["page"]), str(body["rows"])
    window = draw(st.sampled_from(("duration", "timeRange", "both")))
    if window in ("duration", "both"):
        body["duration"] = draw(st.sampled_from(DURATIONS))
    if window in ("timeRange", "both"):
        body["timeRange"] = draw(_time_range(now_ms))
    if window == "timeRange" and draw(st.booleans()):
        body["duration"] = draw(st.sampled_from((None, "")))
    zone = draw(st.sampled_from((None, *REQUEST_ZONES)))
    if zone is not None:
        body["timezone"] = zone
    elif draw(st.booleans()):
        body["timezone"] = draw(st.sampled_from((None, "")))
    if draw(st.integers(0, 2)) == 0:
        body["callerName"] = draw(st.one_of(st.none(), _caller_search()))
    # Most filters stay absent, so that the remaining ones still leave calls to order.
    size = draw(st.sampled_from((0, 1, 1, 2, 2, 3, 4)))
    chosen = draw(st.sets(st.sampled_from(sorted(_OPTIONAL)), min_size=size, max_size=size))
    for field in sorted(chosen):
        value = draw(_MAYBE_OPTIONAL[field])
        if value is not ...:
            body[field] = value
    if draw(st.booleans()):
        # the text columns (case-insensitive order) are drawn as often as all the others
        text_columns = ("callerName", "callerNumber", "queueId", "agentId")
        column = st.one_of(st.sampled_from(SORT_COLUMNS), st.sampled_from(text_columns))
        body["sortColumn"] = draw(column)
    if draw(st.booleans()):
        body["sortOrder"] = draw(st.sampled_from(("asc", "desc")))
    return body


def _day_start(day: date, zone: ZoneInfo) -> int:
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return (local.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def window_edges(body: dict[str, Any], now_ms: int) -> tuple[int, ...]:
    """The ends of the body's timeRange when that is its window, otherwise calendar boundaries
    near now in its zone; each with its neighbouring milliseconds, where an off-by-one or a
    wrong offset shows."""
    if not body.get("duration"):
        ends = [int(end) for end in body["timeRange"].split("-")]
        return tuple(sorted({t + delta for t in ends for delta in (-1, 0, 1)}))
    zone = ZoneInfo(body.get("timezone") or "GMT")
    today = (_EPOCH + timedelta(milliseconds=now_ms)).astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    days = {
        today - timedelta(days=1), today, today + timedelta(days=1), monday,
        monday + timedelta(days=7), first, (first + timedelta(days=32)).replace(day=1),
    }  # fmt: skip
    points = [_day_start(day, zone) for day in days]
    return tuple(sorted({t + delta for t in points for delta in (-1, 0, 1)}))


@st.composite
def scenarios(draw: st.DrawFn, now_ms: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A request body, and calls whose start times crowd around that body's window edges."""
    body = draw(bodies(now_ms))
    calls = draw(call_lists(now_ms, window_edges(body, now_ms)))
    return calls, body


# ---------------------------------------------------------------------------- checks


def _new_tenant(server: LiveServer, calls: list[dict[str, Any]], region: str) -> Any:
    tenant_id = f"prop-{next(_tenants)}"
    return tenant_id, server.tenant(tenant_id, region, calls)


def _ids(document: dict[str, Any]) -> list[str]:
    return [item["callId"] for item in document["data"]]


def _check_one_page(
    server: LiveServer,
    now_ms: int,
    calls: list[dict[str, Any]],
    body: dict[str, Any],
    region: str,
) -> None:
    tenant_id, credential = _new_tenant(server, calls, region)
    body = {"tenantId": tenant_id, **body}
    response = server.post(body, credential)
    assert response.status_code == 200, response.text
    document = response.json()
    expected = matching_ids(calls, body, now_ms)
    page, rows = int(body["page"]), int(body["rows"])
    assert document["page"] == page and document["rows"] == rows
    assert document["hits"] == len(expected)
    assert _ids(document) == expected[(page - 1) * rows : page * rows]


_regions = st.sampled_from(("us", "uk"))


@settings(PROPERTY_SETTINGS, max_examples=120)
@given(scenario=scenarios(NOW_MS), region=_regions)
def test_a_page_has_the_reference_hits_and_order(
    server: LiveServer, scenario: tuple[list[dict[str, Any]], dict[str, Any]], region: str
) -> None:
    calls, body = scenario
    _check_one_page(server, NOW_MS, calls, body, region)


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(scenario=scenarios(NOW_MS), rows=st.integers(1, 12))
def test_walking_the_pages_returns_every_match_once_in_order(
    server: LiveServer, scenario: tuple[list[dict[str, Any]], dict[str, Any]], rows: int
) -> None:
    calls, body = scenario
    tenant_id, credential = _new_tenant(server, calls, "us")
    body = {**body, "tenantId": tenant_id, "rows": rows}
    expected = matching_ids(calls, body, NOW_MS)
    seen: list[str] = []
    for page in itertools.count(1):
        response = server.post({**body, "page": page}, credential)
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["hits"] == len(expected)
        batch = _ids(document)
        assert len(batch) <= rows
        if not batch:
            break
        seen += batch
        assert page <= len(expected), "pages go on past the last match"
    assert len(seen) == len(set(seen))
    assert seen == expected


# Days on which a zone's clocks change (23- and 25-hour days), and a local midnight itself,
# each with the zone concerned.
DST_DAY_NOWS = {
    "new-york-spring-forward": (1710082800000, "America/New_York"),  # 2024-03-10T15:00Z, Sun
    "london-midnight-after-change": (1711926000000, "Europe/London"),  # 04-01 00:00 BST
    "auckland-fall-back": (1712469600000, "Pacific/Auckland"),  # 04-07 18:00 NZST, 25 hours
    "new-york-fall-back": (1730646000000, "America/New_York"),  # 2024-11-03T15:00Z, Sun
}


@pytest.fixture(params=sorted(DST_DAY_NOWS), scope="function")
def dst_server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> tuple[LiveServer, int, str]:
    now_ms, zone = DST_DAY_NOWS[request.param]
    return make_server(now=str(now_ms)), now_ms, zone


@settings(PROPERTY_SETTINGS, max_examples=20)
@given(data=st.data())
def test_windows_on_daylight_saving_days_match_the_reference(
    dst_server: tuple[LiveServer, int, str], data: st.DataObject
) -> None:
    server, now_ms, zone = dst_server
    body = data.draw(bodies(now_ms), label="body")
    if not body.get("duration"):
        body["duration"] = data.draw(st.sampled_from(DURATIONS), label="duration")
    if data.draw(st.integers(0, 3), label="use the changing zone") > 0:
        body["timezone"] = zone
    calls = data.draw(call_lists(now_ms, window_edges(body, now_ms)), label="calls")
    _check_one_page(server, now_ms, calls, body, "us")


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(
    calls=call_lists(NOW_MS),
    search=st.one_of(st.just(""), st.sampled_from(TRICKY_TERMS), st.sampled_from(SEARCH_TERMS)),
    column=st.sampled_from((None, "callerName", "callerNumber")),
    order=st.sampled_from(("asc", "desc")),
)
def test_caller_search_and_text_order_match_the_reference(
    server: LiveServer, calls: list[dict[str, Any]], search: str, column: str | None, order: str
) -> None:
    """Caller search and name/number order, every time (the general bodies use them less)."""
    body = {"page": 1, "rows": 50, "duration": "allhistory", "callerName": [search]}
    if column is not None:
        body |= {"sortColumn": column, "sortOrder": order}
    _check_one_page(server, NOW_MS, calls, body, "us")


# Zones whose days have begun at odd instants: DST at midnight (Havana, Santiago, Beirut, Sao
# Paulo), at 00:01 with a minute-long first midnight (St Johns before 2011), a skipped day
# (Apia, 2011-12-30; Kwajalein, 1993-08-21), a 30-minute change (Lord Howe).
ODD_MIDNIGHT_ZONES = (
    "America/Havana", "America/Santiago", "Asia/Beirut", "America/Sao_Paulo",
    "America/St_Johns", "Pacific/Apia", "Pacific/Kwajalein", "Australia/Lord_Howe",
)  # fmt: skip


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(
    zone=st.sampled_from(ODD_MIDNIGHT_ZONES),
    now_ms=st.integers(0, 1_900_000_000_000),
    duration=st.sampled_from(DURATIONS),
)
@example(zone="America/St_Johns", now_ms=783_635_756_919, duration="yesterday")  # 1994-10-31
@example(zone="Pacific/Apia", now_ms=1_325_282_400_000, duration="yesterday")  # a skipped day
def test_duration_windows_match_the_reference_in_zones_with_odd_midnights(
    zone: str, now_ms: int, duration: str
) -> None:
    """query/windows.py against the reference directly, where no server is needed."""
    window = duration_window(duration, ZoneInfo(zone), now_ms)
    expected = reference.duration_window(duration, zone, now_ms)
    assert (window.start_ms, window.end_ms) == (expected or (None, None))
