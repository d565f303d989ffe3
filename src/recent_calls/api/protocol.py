"""uvicorn's HTTP protocol with a deadline for a request's head, and framing errors answered as
problem documents.

A slow client that sends a request's head a byte at a time (slowloris) would otherwise hold a
connection for ever: uvicorn's keep-alive timer stops at the first byte. A malformed request
line or header gets a problem document rather than uvicorn's text/plain answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from recent_calls.errors import ProblemError

# How long a client may take to send a request's head (request line and headers), from the
# connection's start or the end of its previous answer (slowloris). uvicorn has no such bound:
# its keep-alive timer stops at the first byte.
HEAD_TIMEOUT_S = 10.0


class _FramingProblem(ProblemError):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.slug = status, title, title.lower().replace(" ", "-")


def raw_problem(status: int, title: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer carrying a problem document, for the protocol layer, which
    answers before (or instead of) the app: the connection is closed after it."""
    body = orjson.dumps(_FramingProblem(status, title, detail).problem())
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n"
        "cache-control: no-store\r\n"
        "x-content-type-options: nosniff\r\n\r\n"
    )
    return head.encode("ascii") + body


def _base_protocol() -> Any:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional: uvicorn's pure-Python h11 protocol
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def head_limited_protocol(head_timeout_s: float = HEAD_TIMEOUT_S) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a deadline for each request's head, and framing errors
    answered as problem documents (uvicorn's own are text/plain)."""
    base = _base_protocol()

    class HeadLimited(base):  # type: ignore[misc,valid-type]
        _head_timer: asyncio.TimerHandle | None = None
        _head_cycle: object = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head()

        def _arm_head(self) -> None:
            self._disarm_head()
            # A head that arrives in time starts a new request cycle: that is the mark.
            self._head_cycle = self.cycle
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_expired)

        def _disarm_head(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self.cycle is not self._head_cycle:
                return
            detail = f"The request's head did not arrive within {head_timeout_s:g} seconds."
            self.transport.write(raw_problem(408, "Request Timeout", detail))
            self.transport.close()

        def send_400_response(self, msg: str) -> None:
            detail = "The request is not valid HTTP/1.1 (request line or headers)."
            self.transport.write(raw_problem(400, "Bad Request", detail))
            self.transport.close()

    return HeadLimited
