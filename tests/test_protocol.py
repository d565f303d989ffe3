"""api/protocol.py: a deadline for a request's head, and framing errors answered as problems."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.support import FROZEN_NOW, serving


@pytest.fixture
def slow_head_url(storage: Storage, database: str) -> Iterator[str]:
    with serving(Settings(database=database, now=FROZEN_NOW), storage, head_timeout_s=1.0) as url:
        yield url


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


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
