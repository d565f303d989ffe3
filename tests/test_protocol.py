"""The HTTP/1 edge (protocol.py), over a real socket: bounded heads, a body deadline, framing
that is refused rather than guessed at."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from recent_calls.settings import Settings
from recent_calls.storage.base import Storage

from .support import FROZEN_NOW, add_tenant, serving

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
        with httpx.Client(base_url=url, timeout=10) as http:
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
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 4


def test_a_prompt_body_is_served_and_the_connection_kept(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
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
