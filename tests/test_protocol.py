"""The HTTP/1 edge (protocol.py), over a real socket: bounded heads, a body deadline, framing
that is refused rather than guessed at."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recent_calls.client.transport import tls_context
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.support import FROZEN_NOW, LOOPBACK, add_tenant, serving

pytestmark = pytest.mark.embedded_only  # the HTTP edge does not depend on the engine

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
PUSH = b"POST /customerexperience/v1/recentCallData/us HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture
def url(storage: Storage, database: str) -> Iterator[str]:
    """A server with the default head limits and a one second body deadline."""
    settings = Settings(database=database, now=FROZEN_NOW, body_timeout_s=1.0)
    with serving(settings, storage) as served:
        yield served


@pytest.fixture
def authed(storage: Storage) -> bytes:
    """The credential headers of a tenant, so that the app waits for the body."""
    issued = add_tenant(storage, "acme", "us", [])
    return b"8x8-apikey: %s\r\ntoken: %s\r\n" % (issued.api_key.encode(), issued.token.encode())


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:  # the server closed with our unread bytes in its buffer
        pass
    return b"".join(chunks)


def _exchange(url: str, raw: bytes) -> tuple[int, bytes, bytes]:
    """Send `raw`, read until the server closes; (status, head, body)."""
    with _connect(url) as sock:
        # Answered and closed before we were done: the answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        answer = _read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def _problem(body: bytes) -> dict[str, object]:
    document: dict[str, object] = orjson.loads(body)
    return document


def test_a_head_over_the_size_limit_is_answered_431_and_closed(url: str) -> None:
    status, head, body = _exchange(url, HEALTHZ + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert status == 431
    assert b"application/problem+json" in head and b"connection: close" in head
    assert _problem(body)["status"] == 431
    assert "65536 bytes" in str(_problem(body)["detail"])


def test_too_many_headers_are_answered_431(url: str) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    status, _, body = _exchange(url, HEALTHZ + many + b"\r\n")
    assert status == 431
    assert "100 headers" in str(_problem(body)["detail"])


def test_a_head_just_within_the_limits_is_served(url: str) -> None:
    # 99 headers of our own and Host: 100 in all, in about 60 KiB.
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 600) for i in range(98))
    raw = HEALTHZ + many + b"Connection: close\r\n\r\n"
    assert len(raw) < 65536
    status, _, _ = _exchange(url, raw)
    assert status == 200


def test_a_head_arriving_with_its_body_in_one_packet_is_measured_without_the_body(
    url: str,
) -> None:
    body = b"{" + b" " * 200_000 + b"}"
    raw = (
        PUSH + b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    status, _, _ = _exchange(url, raw)
    assert status == 401  # no credentials: the head was read, not refused as too large


def test_a_streamed_header_is_cut_off_and_does_not_slow_others(url: str) -> None:
    stop = threading.Event()
    result: dict[str, object] = {}

    def stream() -> None:
        with _connect(url) as sock:
            sock.sendall(HEALTHZ + b"X-Stream: ")
            sent = 0
            try:
                while not stop.is_set() and sent < 50_000_000:
                    sock.sendall(b"a" * 4096)
                    sent += 4096
            except (BrokenPipeError, ConnectionResetError):
                pass
            result["sent"] = sent
            result["answer"] = _read_all(sock)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        timings = []
        with httpx.Client(verify=tls_context(), base_url=url, timeout=10) as http:
            for _ in range(10):
                started = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                timings.append(time.perf_counter() - started)
    finally:
        streamer.join(timeout=20)
        stop.set()
    assert not streamer.is_alive()
    assert int(str(result["sent"])) < 5_000_000  # cut off, not read for ever
    assert bytes(result["answer"]).startswith(b"HTTP/1.1 431 ")  # type: ignore[arg-type]
    assert sorted(timings)[len(timings) // 2] < 0.5


def test_a_body_that_does_not_arrive_is_answered_408_and_closed(url: str, authed: bytes) -> None:
    raw = PUSH + authed + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    started = time.monotonic()
    status, head, body = _exchange(url, raw)
    assert time.monotonic() - started < 5
    assert status == 408 and b"connection: close" in head
    assert "body" in str(_problem(body)["detail"])


def test_a_dripping_body_is_answered_408_within_the_deadline(url: str, authed: bytes) -> None:
    with _connect(url) as sock:
        sock.sendall(
            PUSH + authed + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(0.3)
        answer = b""
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                # The server closed with our drip unread, so its kernel reset the connection,
                # which may discard the 408 before we read it: the socket was let go in time all
                # the same (test_a_body_that_does_not_arrive... reads the 408 itself).
                answer = answer or b"reset"
                break
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ") or answer == b"reset"
    assert elapsed < 4


def test_a_prompt_body_is_served_and_the_connection_kept(url: str) -> None:
    with httpx.Client(verify=tls_context(), base_url=url, timeout=10) as http:
        for _ in range(2):
            answer = http.post("/customerexperience/v1/recentCallData/us", json={"page": 1})
            assert answer.status_code == 401
            time.sleep(1.5)  # past the body deadline: a kept-alive connection is not cut


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/2.0"),
        (b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", "HTTP/0.9"),
        (
            PUSH + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "Transfer-Encoding",
        ),
        (
            PUSH + b"Transfer-Encoding: deflate\r\nContent-Length: 0\r\n\r\n",
            "Transfer-Encoding",
        ),
    ],
    ids=["http2", "http09", "gzip-chunked", "deflate"],
)
def test_framing_we_do_not_speak_is_refused_with_a_400(url: str, raw: bytes, said: str) -> None:
    status, head, body = _exchange(url, raw)
    assert status == 400 and b"connection: close" in head
    assert said in str(_problem(body)["detail"])


def test_http_1_0_and_plain_chunked_are_still_served(url: str) -> None:
    status, _, _ = _exchange(url, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200
    raw = PUSH + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    status, _, _ = _exchange(url, raw)
    assert status == 401


# -- adversarial heads and body timing ----------------------------------------------------------

BODY_TIMEOUT_S = 0.2
PROBE_SETTINGS = hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

_METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PRI", b"get"])
_TARGETS = st.sampled_from(
    [
        b"/healthz",
        b"/customerexperience/v1/recentCallData/us",
        b"/customerexperience/v1/calls/us",
        b"/x%0Ay",
        b"*",
        b"http://elsewhere/healthz",
        b"/" + b"a" * 9000,
    ]
)
_VERSIONS = st.sampled_from(
    [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3", b"HTTP/1.2", b"http/1.1", b""]
)
_NAMES = st.sampled_from(
    [
        b"Host",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Content-Type",
        b"8x8-apikey",
        b"8x8-api-key",
        b"token",
        b"Expect",
        b"Connection",
        b"Upgrade",
        b"X-Forwarded-For",
        b"X-Request-ID",
        b"User-Agent",
        b"X\x00Bad",
        b"Bad Name",
    ]
)
_VALUES = st.one_of(
    st.sampled_from(
        [
            b"chunked",
            b"gzip, chunked",
            b"chunked, gzip",
            b"identity",
            b"0",
            b"-1",
            b"5",
            b"99999999999999999999",
            b"1, 1",
            b"application/json",
            b"100-continue",
            b"websocket",
            b"h2c",
            b"close",
            b"\x85\x9b",
        ]
    ),
    st.binary(max_size=40),
    st.integers(0, 70_000).map(lambda n: b"v" * n),
)
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6).flatmap(
    lambda few: st.integers(0, 150).map(
        lambda padding: few + [(b"X-Pad-%d" % i, b"p") for i in range(padding)]
    )
)


def _probe(url: str, raw: bytes, budget_s: float) -> bytes:
    """Send `raw`, then read what comes back within `budget_s` (the server must close first)."""
    with _connect(url) as sock:
        sock.settimeout(budget_s)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        chunks = []
        deadline = time.monotonic() + budget_s
        try:
            while time.monotonic() < deadline and (chunk := sock.recv(65536)):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"the server kept the connection past {budget_s} s: {raw[:200]!r}")
        return b"".join(chunks)


def _statuses(answer: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"(?:^|\r\n\r\n|\})HTTP/1\.1 (\d{3}) ", answer)]


@pytest.fixture
def quick(storage: Storage, database: str) -> Iterator[str]:
    """A server with short head and body deadlines, so that a probe ends in a second or less."""
    settings = Settings(database=database, now=FROZEN_NOW, body_timeout_s=BODY_TIMEOUT_S)
    with serving(settings, storage, head_timeout_s=1.0) as served:
        yield served


def test_no_head_gets_a_5xx_or_keeps_the_server(quick: str) -> None:
    @PROBE_SETTINGS
    @given(method=_METHODS, target=_TARGETS, version=_VERSIONS, headers=_HEADERS)
    def run(
        method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        head = b" ".join(part for part in (method, target, version) if part) + b"\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        raw = head + b"Connection: close\r\n\r\n"
        answer = _probe(quick, raw, budget_s=5)
        statuses = _statuses(answer)
        assert all(status < 500 for status in statuses), (raw[:300], answer[:300])
        if not statuses:
            return
        refused = len(raw) > 65536 or len(headers) + 2 > 100
        refused |= version not in (b"HTTP/1.1", b"HTTP/1.0")
        refused |= any(
            name.lower() == b"transfer-encoding" and value.strip().lower() != b"chunked"
            for name, value in headers
        )
        if refused:
            assert statuses[0] in (400, 431), (raw[:200], answer[:300])

    run()
    started = time.perf_counter()
    assert LOOPBACK.get(f"{quick}/healthz", timeout=5).status_code == 200
    assert time.perf_counter() - started < 1


@PROBE_SETTINGS
@given(
    declared=st.sampled_from([b"10", b"1000", b"0", b"chunked"]),
    # Pauses up to 60% of the body deadline: some pieces come in time, some after it.
    pieces=st.lists(
        st.tuples(st.binary(min_size=1, max_size=8), st.floats(0, BODY_TIMEOUT_S * 0.6)),
        max_size=6,
    ),
    authed_too=st.booleans(),
)
def _timing_cases(
    url: str, authed: bytes, declared: bytes, pieces: list[tuple[bytes, float]], authed_too: bool
) -> None:
    framing = (
        b"Transfer-Encoding: chunked\r\n"
        if declared == b"chunked"
        else b"Content-Length: " + declared + b"\r\n"
    )
    head = PUSH + (authed if authed_too else b"") + b"Content-Type: application/json\r\n"
    with _connect(url) as sock:
        sock.sendall(head + framing + b"\r\n")
        started = time.monotonic()
        for piece, pause in pieces:
            time.sleep(pause)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(piece)
        sock.settimeout(5)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        elapsed = time.monotonic() - started
    # Answered (or closed) within the body deadline, the drip and some slack; never a 5xx.
    assert elapsed < BODY_TIMEOUT_S + sum(p for _, p in pieces) + 2.5
    assert all(status < 500 for status in _statuses(answer)), answer[:300]


def test_no_body_timing_gets_a_5xx_or_holds_the_socket(quick: str, authed: bytes) -> None:
    _timing_cases(quick, authed)


@pytest.fixture
def slow_head_url(storage: Storage, database: str) -> Iterator[str]:
    with serving(Settings(database=database, now=FROZEN_NOW), storage, head_timeout_s=1.0) as url:
        yield url


def test_a_connection_sending_a_partial_head_is_closed_within_the_bound(
    slow_head_url: str,
) -> None:
    with _connect(slow_head_url) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /customerexperience/v1/recentCallData/us HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.4)
        sock.sendall(b"X-Slow: 1\r\n")  # a byte now and then must not keep it open
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head
    assert orjson.loads(body)["status"] == 408


def test_an_idle_connection_is_closed_too_and_a_prompt_one_is_served(slow_head_url: str) -> None:
    with _connect(slow_head_url) as sock:
        started = time.monotonic()
        assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 3.0
    with _connect(slow_head_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_framing_error_is_answered_with_a_problem_document(slow_head_url: str) -> None:
    with _connect(slow_head_url) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in head
    assert orjson.loads(body)["status"] == 400
