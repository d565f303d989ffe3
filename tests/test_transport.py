"""The client's transport against a hostile server: an answer's size and time are bounded."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from recent_calls.client import RecentCallsClient
from recent_calls.client.errors import TransportError
from tests.upstream import upstream


def _client(url: str, **settings: Any) -> RecentCallsClient:
    return RecentCallsClient(url, api_key="k", token="t", retries=0, **settings)


def test_a_huge_answer_is_refused_once_it_passes_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def huge(body: dict[str, Any], conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        conn.sendall(b"Content-Length: 10000000000\r\n\r\n")
        block = b" " * (1 << 20)
        for _ in range(10_000):
            conn.sendall(block)

    monkeypatch.setenv("RECENT_CALLS_MAX_RESPONSE_BYTES", str(2 << 20))
    with upstream(huge) as (url, _), _client(url) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match="larger than 2097152 bytes"):
            client.page("acme")
        assert time.monotonic() - started < 5


def test_an_answer_that_drips_times_out_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def drip(body: dict[str, Any], conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        conn.sendall(b"Content-Length: 40\r\n\r\n")
        for _ in range(40):
            conn.sendall(b" ")
            time.sleep(0.25)  # well inside the per-read timeout

    monkeypatch.setenv("RECENT_CALLS_RESPONSE_DEADLINE_S", "1")
    with upstream(drip) as (url, _), _client(url, timeout=5.0) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"within 1\.0 s"):
            client.page("acme")
        assert time.monotonic() - started < 3
