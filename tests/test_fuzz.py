"""Fuzzing: no input reaches a 5xx, and whatever is stored can be read back every way.

- schemathesis (a bounded share of bench/fuzz.py) in positive and negative modes over every
  operation of our document, the admin API's with its token, and the vendor's document;
- hypothesis bodies drawn from the whole of Unicode (surrogates included), integers and times
  at and past the calendar's ends, nulls and wrong types in every field, on every endpoint;
- a stored-record property: any call the push endpoint accepts is then queryable, renderable,
  sortable by every column, bucketable by stats and listed by facets, in far time zones.

The 500 plugin (tests/unhandled.py) fails any of these whose server logged an unhandled error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from bench.fuzz import Report, fuzz_ours, fuzz_vendor, operations_fuzzed
from recent_calls.admin.credentials import IssuedCredential
from recent_calls.fields import SORT_COLUMNS
from recent_calls.ingest.records import ImportedCall
from recent_calls.query.windows import MAX_EPOCH_MS
from tests.calls import make_call
from tests.support import LiveServer, ServerFactory, add_tenant

MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
ADMIN_TOKEN = "fuzz-admin-token"
V1 = "/customerexperience/v1"
COUNTS: dict[str, int] = {}  # what this module generated, for the run's summary


def _tally(name: str, n: int = 1) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + n


@pytest.fixture
def fuzzed(make_server: ServerFactory) -> tuple[str, IssuedCredential]:
    server = make_server(rate_limit_per_s=0, admin_token=ADMIN_TOKEN)
    calls = [make_call(f"c{i}", 1710000000000 - i * 3_600_000) for i in range(50)]
    credential = server.tenant("fuzzco", "us", calls)
    server.tenant("otherco", "uk", calls)
    return server.url, credential


def test_our_own_document_finds_no_5xx_and_no_nonconforming_answer(
    fuzzed: tuple[str, IssuedCredential],
) -> None:
    url, credential = fuzzed
    covered = operations_fuzzed(url, ADMIN_TOKEN)
    for wanted in ("recentCallData", "recentCallStats", "recentCallFacets", "/calls/", "/admin/"):
        assert any(wanted in operation for operation in covered), wanted
    report = fuzz_ours(url, credential, examples=12, modes=MODES, admin_token=ADMIN_TOKEN)
    print(report.describe("schemathesis, our document"))
    assert report.server_errors == 0
    assert set(report.by_mode) == {"positive", "negative"}
    assert report.requests >= 200
    assert 200 in report.statuses and 400 in report.statuses and 401 in report.statuses
    for mode, n in report.by_mode.items():
        _tally(f"schemathesis {mode}", n)


def test_the_vendors_document_pointed_at_us_finds_no_5xx(
    fuzzed: tuple[str, IssuedCredential],
) -> None:
    url, credential = fuzzed
    report: Report = fuzz_vendor(url, credential, examples=50, modes=MODES)
    assert report.server_errors == 0
    assert report.requests >= 100
    assert 400 in report.statuses
    for mode, n in report.by_mode.items():
        _tally(f"schemathesis vendor {mode}", n)


# -- hypothesis: any JSON value in any field ----------------------------------------------------

EVERY_CHARACTER = st.characters(blacklist_categories=())  # surrogates and controls included
CALENDAR_ENDS = [
    0, -1, 1, MAX_EPOCH_MS, MAX_EPOCH_MS + 1, 253_402_214_400_000, -62_135_596_800_000,
    2**31, 2**53, 2**63 - 1, 2**63, -(2**63), 2**64, 2**70, 10**30,
]  # fmt: skip
TIME_TEXTS = st.one_of(
    st.builds("{}-{}".format, st.sampled_from(CALENDAR_ENDS), st.sampled_from(CALENDAR_ENDS)),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "10000-01-01", "range:-1,"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(CALENDAR_ENDS),
    st.floats(),
    st.text(EVERY_CHARACTER, max_size=40),
    TIME_TEXTS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(EVERY_CHARACTER, max_size=8), inner)
    ),
    max_leaves=8,
)
QUERY_FIELDS = [
    "tenantId", "page", "rows", "duration", "timeRange", "timezone", "callerName", "sortColumn",
    "sortOrder", "interval", "tenantAgents", "tenantQueues", "tenantGroups", "tenantChannels",
    "agentHoldCount", "agentMuteCount", "transferCount", "callDuration", "timeInQueue",
    "timeInIVR", "agentCallDuration", "agentHoldDuration",
]  # fmt: skip
CALL_FIELDS = list(ImportedCall.model_fields)
GOOD_QUERY = {"tenantId": "fuzzco", "page": 1, "rows": 5, "duration": "allhistory"}


def _overrides(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), VALUES, min_size=1, max_size=4)


def _send(server: LiveServer, method: str, path: str, body: Any, headers: dict[str, str]) -> int:
    # ensure_ascii: a lone surrogate travels as its \\u escape, NaN and Infinity as themselves
    content = json.dumps(body, ensure_ascii=True).encode()
    answer = server.http.request(
        method, path, content=content, headers={"Content-Type": "application/json", **headers}
    )
    assert answer.status_code < 500, (path, body, answer.status_code, answer.text[:300])
    _tally("hypothesis bodies")
    return answer.status_code


FUZZ_SETTINGS = hypothesis_settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_any_value_in_any_field_of_any_endpoint_is_never_a_5xx(api: LiveServer) -> None:
    credential = add_tenant(api.storage, "fuzzco", "us", [make_call("f1", 1710000000000)])
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}

    @FUZZ_SETTINGS
    @given(
        query=_overrides(QUERY_FIELDS),
        call=_overrides(CALL_FIELDS),
        whole=VALUES,
        endpoint=st.sampled_from(["recentCallData", "recentCallStats", "recentCallFacets"]),
    )
    def run(query: dict[str, Any], call: dict[str, Any], whole: Any, endpoint: str) -> None:
        _send(api, "POST", f"{V1}/{endpoint}/us", {**GOOD_QUERY, **query}, headers)
        pushed = {"tenantId": "fuzzco", "calls": [{**make_call("h1", 1710000000000), **call}]}
        _send(api, "POST", f"{V1}/calls/us", pushed, headers)
        _send(api, "POST", f"{V1}/{endpoint}/us", whole, headers)
        _send(api, "POST", f"{V1}/calls/us", {"tenantId": "fuzzco", "calls": whole}, headers)

    run()


def test_any_value_in_any_admin_field_is_never_a_5xx(make_server: ServerFactory) -> None:
    server = make_server(rate_limit_per_s=0, admin_token=ADMIN_TOKEN)
    server.tenant("fuzzco")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    bodies = [
        ("POST", "/admin/v1/tenants", ["tenantId", "region", "label"]),
        ("POST", "/admin/v1/tenants/fuzzco/credentials", ["label"]),
        ("PUT", "/admin/v1/tenants/fuzzco/sync-watermark", ["source", "watermarkMs"]),
        ("POST", "/admin/v1/tenants/fuzzco/credentials/nokey/rotate", ["graceMs", "label"]),
    ]

    @FUZZ_SETTINGS
    @given(which=st.sampled_from(bodies), data=st.data())
    def run(which: tuple[str, str, list[str]], data: st.DataObject) -> None:
        method, path, fields = which
        _send(server, method, path, data.draw(_overrides(fields)), headers)

    run()


# -- stored-record property --------------------------------------------------------------------

ZONES = ["Pacific/Kiritimati", "Pacific/Chatham", "Etc/GMT+12", "America/St_Johns", "GMT"]
STARTS = st.one_of(
    st.sampled_from([0, 1, MAX_EPOCH_MS, MAX_EPOCH_MS - 1, 253_402_214_400_000]),
    st.integers(min_value=0, max_value=MAX_EPOCH_MS),
)
# Mostly what a store should take (every character but a lone surrogate, which is refused),
# so that most batches are accepted and read back; now and then something it must refuse.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text(EVERY_CHARACTER, max_size=30),
)
DURATIONS = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=1e9, allow_nan=False),
    st.sampled_from(["0", "1.5", "60000", "-1", "", 2**63, -5]),
)
CALL_VALUES = {
    "startTime": STARTS,
    "callerName": TEXT,
    "callerNumber": TEXT,
    "queueId": TEXT,
    "agentId": TEXT,
    "agentGroup": TEXT,
    "transactionId": TEXT,
    "postCallSurvey": st.one_of(st.lists(TEXT, max_size=2), st.lists(TEXT, max_size=2), TEXT),
    "voiceComment": st.one_of(st.dictionaries(TEXT, TEXT, max_size=2), TEXT),
    "callDuration": DURATIONS,
    "waitTime": DURATIONS,
    "holdDuration": DURATIONS,
    "abandonTime": DURATIONS,
    "transferCount": DURATIONS,
    "muteDuration": DURATIONS,
}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    call = make_call(f"r{draw(st.integers(min_value=0, max_value=10**6))}", 1710000000000)
    for name, strategy in CALL_VALUES.items():
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            call[name] = draw(strategy)
    return call


def test_every_accepted_record_reads_back_every_way(api: LiveServer, engine: str) -> None:
    credential = add_tenant(api.storage, "fuzzco", "us", [])
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}

    @hypothesis_settings(
        max_examples=40, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(
        calls=st.lists(_records(), min_size=1, max_size=2, unique_by=lambda c: c["callId"]),
        zone=st.sampled_from(ZONES),
        order=st.sampled_from(["asc", "desc"]),
    )
    def run(calls: list[dict[str, Any]], zone: str, order: str) -> None:
        pushed = {"tenantId": "fuzzco", "calls": calls}
        status = _send(api, "POST", f"{V1}/calls/us", pushed, headers)
        _tally(f"records offered ({engine})", len(calls))
        if status != 200:
            assert status == 400
            return
        _tally(f"records accepted ({engine})", len(calls))
        ids = {call["callId"] for call in calls}
        query = {"tenantId": "fuzzco", "page": 1, "rows": 5000, "duration": "allhistory"}
        for column in SORT_COLUMNS:
            body = {**query, "timezone": zone, "sortColumn": column, "sortOrder": order}
            answer = api.http.post(f"{V1}/recentCallData/us", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert ids <= {item["callId"] for item in answer.json()["data"]}
        for call in calls:
            start = int(call["startTime"])
            window = f"{max(0, start - 7_200_000)}-{min(MAX_EPOCH_MS, start + 7_200_000)}"
            for interval in ("hour", "day"):
                body = {"tenantId": "fuzzco", "timeRange": window, "timezone": zone}
                answer = api.http.post(
                    f"{V1}/recentCallStats/us", json={**body, "interval": interval}, headers=headers
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["totals"]["calls"] >= 1
        every = {"tenantId": "fuzzco", "duration": "allhistory", "timezone": zone}
        stats = api.http.post(
            f"{V1}/recentCallStats/us", json={**every, "interval": "day"}, headers=headers
        )
        assert stats.status_code in (200, 400), stats.text  # 400: more days than one answer
        facets = api.http.post(
            f"{V1}/recentCallFacets/us", json={"tenantId": "fuzzco"}, headers=headers
        )
        assert facets.status_code == 200, facets.text

    run()


def test_print_what_was_generated(capsys: pytest.CaptureFixture[str]) -> None:
    """Last in the module: the counts of what the tests above generated (in the -s output and
    the run's log), for the record; it fails only if nothing was generated at all."""
    with capsys.disabled():
        print("\nfuzz counts:", json.dumps(COUNTS, sort_keys=True))
    assert COUNTS
