"""The typed client, against the real server on a loopback port."""

from __future__ import annotations

import pkgutil
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import recent_calls.client as client_module
from recent_calls.admin.remote import RemoteAdmin
from recent_calls.client import (
    APIError,
    AuthenticationError,
    BadRequestError,
    Call,
    ClientError,
    ClientSettings,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    Query,
    RateLimitError,
    RecentCallsClient,
    ServerError,
    TransportError,
    count_range,
    duration_range,
    epoch_ms,
    parse_call,
)
from recent_calls.client.errors import retry_after
from recent_calls.client.query import Outcome
from recent_calls.client.transport import Transport
from recent_calls.errors import InvalidRequest, NotFound, Unauthorized
from tests.calls import make_call
from tests.support import NOW, LiveServer, ServerFactory, connect, varied_calls


def _split(value: Any, sep: str | None = ",") -> list[str]:
    return [part for part in str(value).split(sep) if part]


def _ms(value: Any) -> float:
    return float(value)


def _within(value: float, unit: int, low: int, high: int) -> bool:
    whole = int(value // unit)
    return whole >= low and (high == -1 or whole <= high)


# (query, predicate on the imported call) for every filter the API has.
CASES: list[tuple[Query, Callable[[dict[str, Any]], bool]]] = [
    (Query(caller="ömer"), lambda c: "ömer" in c["callerName"].casefold()),
    (Query(caller="5500012"), lambda c: "5500012" in c["callerNumber"]),
    (Query(caller="strasse"), lambda c: c["callerName"] == "Straße Ltd"),
    (Query(agents=["agC"]), lambda c: "agC" in _split(c["agentId"])),
    (Query(agents=["agB", "agC"]), lambda c: bool({"agB", "agC"} & set(_split(c["agentId"])))),
    (Query(queues=["101"]), lambda c: "101" in _split(c["queueId"])),
    (Query(groups=["11"]), lambda c: c["agentGroup"] == "11"),
    (Query(channels=["18005550001"]), lambda c: c["dialedNumber"] == "18005550001"),
    (Query(agent_hold_count=count_range(2)), lambda c: c["agentHoldCount"] >= 2),
    (Query(agent_mute_count=count_range(1, 1)), lambda c: c["agentMuteCount"] == 1),
    (Query(transfer_count=count_range(1, 3)), lambda c: 1 <= float(c["transferCount"]) <= 3),
    (
        Query(call_duration=duration_range(60, 150)),
        lambda c: _within(_ms(c["callDuration"]), 1000, 60, 150),
    ),
    (
        Query(time_in_queue=duration_range(5, 5)),
        lambda c: _within(_ms(c["waitTime"]), 1000, 5, 5),
    ),
    (Query(time_in_ivr=duration_range(12)), lambda c: _ms(c["timeInIVR"]) >= 12_000),
    (
        Query(agent_call_duration=duration_range(10, 20, unit="min")),
        lambda c: _within(_ms(c["agentCallHandlingDuration"]), 60_000, 10, 20),
    ),
    (
        Query(agent_hold_duration=duration_range(None, 20)),
        lambda c: _ms(c["holdDuration"]) < 21_000,
    ),
    (Query(duration="today"), lambda c: c["startTime"] >= NOW - 16 * 3_600_000),
    (
        Query(duration="yesterday"),
        lambda c: NOW - 40 * 3_600_000 <= c["startTime"] < NOW - 16 * 3_600_000,
    ),
    (
        Query(duration="today", timezone="America/New_York"),  # midnight there is 04:00 UTC
        lambda c: c["startTime"] >= NOW - 12 * 3_600_000,
    ),
    (
        Query(
            time_range=(
                NOW - 10 * 2_700_000,
                datetime.fromtimestamp((NOW - 5 * 2_700_000) / 1000, UTC),
            )
        ),
        lambda c: NOW - 10 * 2_700_000 <= c["startTime"] <= NOW - 5 * 2_700_000,
    ),
    (
        Query(agents=["agA"], queues=["100"], caller="ömer"),
        lambda c: (
            "agA" in _split(c["agentId"])
            and "100" in _split(c["queueId"])
            and "ömer" in c["callerName"].casefold()
        ),
    ),
]


def test_every_filter_selects_exactly_the_matching_calls(server: LiveServer) -> None:
    calls = varied_calls()
    credential = server.tenant("acme", calls=calls)
    with connect(server, credential) as client:
        for query, matches in CASES:
            expected = {c["callId"] for c in calls if matches(c)}
            found = [call.call_id for call in client.iter_calls("acme", query, rows=7)]
            assert len(found) == len(set(found)), query
            assert set(found) == expected, query
            assert 0 < len(expected) < len(calls), query  # each case tells calls apart


OUTCOME_CALLS = [
    make_call("answered", NOW - 3_000_000),
    make_call("abandoned", NOW - 2_000_000, agentCallHandlingDuration="0.0", abandonTime="9000"),
    make_call("voicemail", NOW - 1_000_000, agentCallHandlingDuration="0.0"),
]


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (("answered",), ["answered"]),
        (("abandoned", "other"), ["voicemail", "abandoned"]),
        ((), ["voicemail", "abandoned", "answered"]),
    ],
)
def test_the_outcome_extension_selects_calls_by_what_became_of_them(
    server: LiveServer, outcomes: tuple[Outcome, ...], expected: list[str]
) -> None:
    credential = server.tenant("acme", calls=OUTCOME_CALLS)
    with connect(server, credential) as client:
        found = [c.call_id for c in client.iter_calls("acme", Query(outcomes=outcomes))]
    assert found == expected


def test_an_outcome_the_api_does_not_know_is_refused_before_asking() -> None:
    with pytest.raises(ValueError, match="'missed' is not one of answered, abandoned, other"):
        Query(outcomes=["missed"]).body("acme")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not a string"):
        Query(outcomes="answered").body("acme")  # type: ignore[arg-type]


def test_records_are_typed(server: LiveServer) -> None:
    credential = server.tenant("acme", calls=varied_calls(7))
    with connect(server, credential) as client:
        page = client.page("acme", Query(timezone="America/New_York"), rows=7)
    by_id = {call.call_id: call for call in page.calls}
    call = by_id["acme-006"]
    start = NOW - 7 * 2_700_000
    assert call.call_date == datetime.fromtimestamp(start / 1000, UTC)
    assert call.call_date.tzinfo == ZoneInfo("America/New_York")
    assert call.call_date.utcoffset() is not None
    assert call.start_ms == start
    assert call.call_duration == 45_000 and isinstance(call.call_duration, int)
    assert call.agent_call_handling_duration == 360_000.0
    assert call.wait_time == 6_500.0 and call.time_in_ivr == 24_000.0
    assert call.transfer_count == 1 and isinstance(call.transfer_count, int)
    assert call.mute_duration == 18
    assert call.agent_ids == ["agA", "agC"] and call.queue_ids == ["100"]
    assert call.transaction_ids == ["7", "8"]
    assert by_id["acme-000"].queue_ids == ["100", "101"]
    assert call.post_call_survey == [] and by_id["acme-005"].post_call_survey == [
        {"question": 1, "score": 5}
    ]
    assert by_id["acme-001"].voice_comment == {"file": "v.wav"} and call.voice_comment == {}
    assert call.tenant_id == "acme" and call.raw["callDuration"] == "45000"
    assert (page.hits, page.page, page.rows, page.timezone) == (7, 1, 7, "America/New_York")


def test_parse_call_reads_the_references_own_example() -> None:
    item = {
        "callDuration": "787015",
        "queueId": "713",
        "agentCallHandlingDuration": "753105.0",
        "callDate": "02/10/2022 11:22:51",
        "agentId": "agAD21EBR1RhuV2TNDivjzzz,",
        "muteDuration": 701,
        "transferCount": "0.0",
        "postCallSurvey": "[]",
        "voiceComment": "{}",
        "callId": "int-17ee5169b65",
        "transactionId": "6264 6270 6273",
    }
    call = parse_call(item, "America/Los_Angeles")
    assert call.agent_ids == ["agAD21EBR1RhuV2TNDivjzzz"]
    assert call.transaction_ids == ["6264", "6270", "6273"]
    assert call.call_date.isoformat() == "2022-02-10T11:22:51-08:00"
    assert call.caller_name == "" and call.hold_duration == 0.0


def test_paging_walks_every_page_until_hits_are_reached(server: LiveServer) -> None:
    credential = server.tenant("acme", calls=varied_calls(23))
    requests: list[dict[str, Any]] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(httpx.Response(200, content=request.content).json())
            return super().handle_request(request)

    with connect(server, credential, transport=Recording()) as client:
        pages = list(client.iter_pages("acme", rows=5))
        calls = list(client.iter_calls("acme", rows=5))
    assert [len(page.calls) for page in pages] == [5, 5, 5, 5, 3]
    assert [body["page"] for body in requests[:6]] == [1, 2, 3, 4, 5, 1]  # no 6th: 23 hits seen
    assert all(page.hits == 23 for page in pages)
    starts = [call.start_ms for call in calls]
    assert starts == sorted(starts, reverse=True) and len({c.call_id for c in calls}) == 23


def test_query_body_spells_every_field_as_the_reference_does() -> None:
    query = Query(
        time_range=(1665580905000, 1665598905000),
        timezone="America/Los_Angeles",
        caller="555",
        agents=["ag1"],
        queues=["2583"],
        groups=["2577"],
        channels=["18005550000"],
        agent_hold_count=count_range(2),
        agent_mute_count=count_range(1, 1),
        transfer_count=count_range(0),
        call_duration=duration_range(60),
        time_in_queue=duration_range(0),
        time_in_ivr=duration_range(15),
        agent_call_duration=duration_range(5, unit="min"),
        agent_hold_duration=duration_range(30),
        sort_column="callDate",
        sort_order="asc",
    )
    assert query.body("acmecorp01", 2, 500) == {
        "tenantId": "acmecorp01",
        "page": 2,
        "rows": 500,
        "timeRange": "1665580905000-1665598905000",
        "timezone": "America/Los_Angeles",
        "callerName": ["555"],
        "tenantAgents": ["ag1"],
        "tenantQueues": ["2583"],
        "tenantGroups": ["2577"],
        "tenantChannels": ["18005550000"],
        "agentHoldCount": "range:2,-1",
        "agentMuteCount": "range:1,1",
        "transferCount": "range:0,-1",
        "callDuration": "sec:60,-1",
        "timeInQueue": "sec:0,-1",
        "timeInIVR": "sec:15,-1",
        "agentCallDuration": "min:5,-1",
        "agentHoldDuration": "sec:30,-1",
        "sortColumn": "callDate",
        "sortOrder": "asc",
    }
    assert Query().body("t")["duration"] == "allhistory"
    assert "timeRange" not in Query(duration="week", time_range=(1, 2)).body("t")


def test_range_helpers_refuse_what_the_api_would() -> None:
    assert count_range() == "range:-1,-1" and count_range(5, 5) == "range:5,5"
    assert duration_range(1, 20) == "sec:1,20" and duration_range(60, unit="min") == "min:60,-1"
    for bad in (lambda: count_range(3, 2), lambda: count_range(-2), lambda: duration_range(5, 1)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        epoch_ms(datetime(2024, 1, 1))  # naive
    assert epoch_ms(datetime(2022, 10, 12, 13, 21, 45, tzinfo=UTC)) == 1665580905000


def test_errors_carry_the_problem_document(server: LiveServer) -> None:
    credential = server.tenant("acme")
    server.tenant("other")
    with connect(server, credential) as client:
        with pytest.raises(BadRequestError) as bad:
            client.page("acme", Query(transfer_count="range:5,1", timezone="Mars/Base"))
        with pytest.raises(PermissionDeniedError) as forbidden:
            client.page("other")
    assert bad.value.status == 400 and bad.value.problem["status"] == 400
    assert {e.field for e in bad.value.errors} == {"transferCount", "timezone"}
    assert isinstance(bad.value, APIError) and isinstance(bad.value, ClientError)
    assert forbidden.value.problem["title"] == "Forbidden"
    assert forbidden.value.request.url.path.endswith("/recentCallData/us")
    wrong = RecentCallsClient(server.url, api_key="rck_x_y", token="nope", region="us")
    with wrong, pytest.raises(AuthenticationError) as unauthorized:
        wrong.page("acme")
    assert unauthorized.value.status == 401 and "401" in str(unauthorized.value)


def test_settings_come_from_the_environment(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = server.tenant("britco", region="uk", calls=varied_calls(3, "britco"))
    monkeypatch.setenv("RECENT_CALLS_BASE_URL", server.url)
    monkeypatch.setenv("RECENT_CALLS_API_KEY", credential.api_key)
    monkeypatch.setenv("RECENT_CALLS_TOKEN", credential.token)
    monkeypatch.setenv("RECENT_CALLS_REGION", "uk")
    with RecentCallsClient() as client:
        assert (client.base_url, client.region) == (server.url, "uk")
        assert client.count("britco") == 3
    monkeypatch.delenv("RECENT_CALLS_BASE_URL")
    monkeypatch.delenv("RECENT_CALLS_TOKEN")
    with pytest.raises(ConfigurationError):
        RecentCallsClient()
    with RecentCallsClient(token="t") as vendor:
        assert vendor.base_url == "https://api.8x8.com"
    with pytest.raises(ConfigurationError):
        RecentCallsClient(token="t", region="eu")


def test_client_settings_are_typed_and_keep_secrets_out_of_reprs(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = server.tenant("acme", calls=varied_calls(2))
    monkeypatch.setenv("RECENT_CALLS_API_KEY", credential.api_key)
    monkeypatch.setenv("RECENT_CALLS_TOKEN", credential.token)
    monkeypatch.setenv("RECENT_CALLS_REGION", "")  # empty: unset, so the default us
    monkeypatch.setenv("RECENT_CALLS_RETRIES", "0")
    settings = ClientSettings(base_url=server.url)
    assert (settings.region, settings.retries, settings.timeout_s) == ("us", 0, 30.0)
    assert credential.token not in repr(settings) and credential.api_key not in repr(settings)
    with RecentCallsClient(settings=settings) as client:
        assert client.count("acme") == 2
    with RecentCallsClient(settings=settings, region="uk") as uk:  # arguments win
        assert uk.region == "uk"
    monkeypatch.setenv("RECENT_CALLS_RETRIES", "-1")
    with pytest.raises(ConfigurationError, match="retries"):
        RecentCallsClient(server.url)
    with pytest.raises(ConfigurationError, match=r"region.*'eu'"):
        RecentCallsClient(server.url, region="eu", retries=1)


def test_retries_ride_through_injected_429s_and_503s(make_server: ServerFactory) -> None:
    server = make_server(
        fault_rate_429=0.3, fault_rate_503=0.2, fault_retry_after_s=1, fault_seed=3
    )
    calls = varied_calls(30)
    credential = server.tenant("acme", calls=calls)
    waits: list[float] = []
    with connect(server, credential, retries=10, backoff=0.01, sleep=waits.append) as client:
        found = [call.call_id for call in client.iter_calls("acme", rows=4)]
    assert sorted(found) == sorted(c["callId"] for c in calls)
    assert waits.count(1.0) >= 2  # 429s: the Retry-After asked for
    assert any(w < 1.0 for w in waits)  # 503s without Retry-After: backoff


def test_retries_give_up_with_the_last_error(make_server: ServerFactory) -> None:
    server = make_server(fault_rate_429=1.0, fault_retry_after_s=2)
    credential = server.tenant("acme")
    waits: list[float] = []
    with (
        connect(server, credential, retries=2, sleep=waits.append) as client,
        pytest.raises(RateLimitError) as limited,
    ):
        client.page("acme")
    assert waits == [2.0, 2.0] and limited.value.retry_after == 2.0
    assert limited.value.problem["status"] == 429
    with (
        connect(server, credential, max_retry_after=1, sleep=waits.append) as client,
        pytest.raises(RateLimitError),
    ):
        client.page("acme")  # asks for longer than we will wait: fails at once
    assert len(waits) == 2


def test_server_errors_are_retried_then_raised(make_server: ServerFactory) -> None:
    server = make_server(fault_rate_503=1.0)
    credential = server.tenant("acme")
    waits: list[float] = []
    with (
        connect(server, credential, retries=3, backoff=0.1, sleep=waits.append) as client,
        pytest.raises(ServerError) as failed,
    ):
        client.page("acme")
    assert failed.value.status == 503 and len(waits) == 3
    assert waits[0] < waits[2] <= 0.4  # exponential, with jitter


def test_connection_errors_and_timeouts_are_retried(make_server: ServerFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    waits: list[float] = []
    nowhere = RecentCallsClient(closed, api_key="k", token="t", retries=2, sleep=waits.append)
    with nowhere, pytest.raises(TransportError) as refused:
        nowhere.page("acme")
    assert len(waits) == 2 and "3 attempts" in str(refused.value)
    server = make_server(fault_delay_ms=400)
    credential = server.tenant("acme")
    with (
        connect(server, credential, timeout=0.1, retries=1, sleep=waits.append) as client,
        pytest.raises(TransportError) as slow,
    ):
        client.page("acme")
    assert isinstance(slow.value.__cause__, httpx.TimeoutException)


def test_push_stores_calls_idempotently(server: LiveServer) -> None:
    credential = server.tenant("acme")
    calls = varied_calls(5)
    with connect(server, credential) as client:
        first = client.push("acme", calls, batch=2)
        again = client.push("acme", calls)
        assert (first.received, first.inserted, first.replaced) == (5, 5, 0)
        assert (again.received, again.inserted, again.replaced) == (5, 0, 5)
        assert {c.call_id for c in client.iter_calls("acme")} == {c["callId"] for c in calls}
        with pytest.raises(BadRequestError) as bad:
            client.push("acme", [{"callId": "x"}])
    assert bad.value.errors[0].field == "calls[0]"


def test_call_is_a_plain_frozen_record() -> None:
    call = parse_call({"callId": "a", "callDate": "01/02/2024 03:04:05"}, "GMT")
    assert isinstance(call, Call) and call.start_ms == epoch_ms(call.call_date)
    assert call.as_import_line() == {
        "callId": "a",
        "callDate": "01/02/2024 03:04:05",
        "startTime": 1704164645000,
    }


def test_all_is_exactly_the_public_names() -> None:
    """`__all__` lists every public name the package defines or re-exports, and nothing else."""
    public = {
        name
        for name, value in vars(client_module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert len(client_module.__all__) == len(set(client_module.__all__))
    assert sorted(client_module.__all__) == sorted(public)
    submodules = {info.name for info in pkgutil.iter_modules(client_module.__path__)}
    assert submodules == {"client", "errors", "files", "models", "query", "settings", "transport"}


@contextmanager
def hanging_up() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server that reads each request and hangs up without answering."""
    received: list[bytes] = []

    class HangUp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.append(data)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), HangUp) as tcp:
        thread = threading.Thread(target=tcp.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{tcp.server_address[1]}", received
        finally:
            tcp.shutdown()
            thread.join(timeout=10)


def test_only_requests_safe_to_repeat_are_repeated_after_a_hang_up() -> None:
    waits: list[float] = []
    with hanging_up() as (url, received):
        transport = Transport(url, headers={}, retries=2, sleep=waits.append)
        with closing(transport):
            with pytest.raises(TransportError, match="3 attempts"):
                transport.request("POST", "/read", content=b"{}")
            assert len(received) == 3 and len(waits) == 2
            with pytest.raises(TransportError, match="1 attempts"):
                transport.request("POST", "/create", content=b"{}", idempotent=False)
            assert len(received) == 4  # it may have been acted on: not sent again
            with pytest.raises(TransportError, match="1 attempts"):
                transport.request("POST", "/import", content=iter([b"{}\n"]))
            assert len(received) == 5 and len(waits) == 2  # a stream cannot be replayed


def test_unserved_answers_are_repeated_even_when_unsafe(make_server: ServerFactory) -> None:
    server = make_server(fault_rate_503=1.0)
    waits: list[float] = []
    transport = Transport(server.url, headers={}, retries=2, sleep=waits.append)
    with closing(transport), pytest.raises(ServerError) as failed:
        path = "/customerexperience/v1/recentCallData/us"
        transport.request("POST", path, content=b"{}", idempotent=False)
    assert failed.value.status == 503 and len(waits) == 2  # a 503 says nothing was done


def test_remote_admin_errors_read_like_the_local_admins(make_server: ServerFactory) -> None:
    server = make_server(admin_token="admin-secret")
    with closing(RemoteAdmin(server.url, "admin-secret")) as admin:
        with pytest.raises(NotFound, match="'nobody'") as missing:
            admin.list_credentials("nobody")
        assert isinstance(missing.value.__cause__, NotFoundError)
        with pytest.raises(InvalidRequest) as invalid:
            admin.create_tenant("no spaces allowed", "eu")
        assert {e.field for e in invalid.value.errors} == {"tenantId", "region"}
        issued = admin.create_tenant("acme", "us")
        assert [c["keyId"] for c in admin.list_credentials("acme")] == [issued.key_id]
    with closing(RemoteAdmin(server.url, "wrong")) as stranger, pytest.raises(Unauthorized):
        stranger.compact()


def test_remote_admin_reports_an_unreachable_server_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    waits: list[float] = []
    admin = RemoteAdmin(closed, "t", retries=2, sleep=waits.append)
    with closing(admin), pytest.raises(TransportError, match="3 attempts"):
        admin.create_tenant("acme", "us")  # never sent: safe to try again
    assert len(waits) == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"7", 7.0), (b"\xb2", None), (b"soon", None), (b"Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_a_retry_after_the_client_cannot_read_is_no_wait(
    value: bytes, seconds: float | None
) -> None:
    # A server's Retry-After is bytes the client did not choose: "²" is a digit to `isdigit`.
    answer = httpx.Response(503, headers=[(b"retry-after", value)])
    assert retry_after(answer) == seconds
