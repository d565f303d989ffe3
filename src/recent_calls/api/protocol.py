"""uvicorn's HTTP protocol with bounds on a request's head and body, and framing errors
answered as problem documents.

A slow client that sends a request's head a byte at a time (slowloris) would otherwise hold a
connection for ever: uvicorn's keep-alive timer stops at the first byte. A head is also bounded
in size and in headers (431): the parser gathers a header's value by concatenation, so one
endless header costs quadratic CPU. A body must arrive within a deadline once its head has
(408), or a Content-Length with no body holds a socket for ever. Framing that could be read two
ways is refused (400): an HTTP version other than 1.0 and 1.1, and any Transfer-Encoding but a
single `chunked`. A malformed request line or header gets a problem document rather than
uvicorn's text/plain answer.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from recent_calls.errors import ProblemError
from recent_calls.settings import Settings

# How long a client may take to send a request's head (request line and headers), from the
# connection's start or the end of its previous answer (slowloris). uvicorn has no such bound:
# its keep-alive timer stops at the first byte.
HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
BODY_TIMEOUT_S = 30.0
HTTP_VERSIONS = ("1.0", "1.1")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the protocol answers `answer`."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer


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
    # httptools comes with uvicorn[standard]; the bounds below rest on its parser's callbacks.
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


def head_limited_protocol(
    head_timeout_s: float = HEAD_TIMEOUT_S,
    *,
    max_head_bytes: int = MAX_HEAD_BYTES,
    max_headers: int = MAX_HEADERS,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a deadline and size bounds for each request's head, a
    deadline for its body, and framing errors answered as problem documents (uvicorn's own
    are text/plain)."""
    base = _base_protocol()
    too_large = raw_problem(
        431,
        "Request Header Fields Too Large",
        f"A request's head may hold at most {max_head_bytes} bytes and {max_headers} headers.",
    )

    class HeadLimited(base):  # type: ignore[misc,valid-type]
        _head_timer: asyncio.TimerHandle | None = None
        _head_cycle: object = None
        _body_timer: asyncio.TimerHandle | None = None
        # Bytes and headers of the head being read; None while a body is read.
        _head_bytes: int | None = 0
        _header_count = 0

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head()
            self._disarm_body()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head()

        def data_received(self, data: bytes) -> None:
            if self._head_bytes is None:
                super().data_received(data)
                return
            # Feed no more than the head may still take: if the head ends within it, the rest
            # (a body, a pipelined request) is fed as usual; if it does not, the head is too big.
            room = max_head_bytes - self._head_bytes
            self._head_bytes += min(len(data), room)
            super().data_received(data[:room])
            if len(data) <= room or self.transport.is_closing():
                return
            if self._head_bytes is not None:
                self._refuse(too_large)
                return
            super().data_received(data[room:])

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_count = 0

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > max_headers:
                raise _Refused(too_large)
            if name.lower() == b"transfer-encoding" and value.strip().lower() != b"chunked":
                raise _Refused(_bad_framing("Transfer-Encoding may only be chunked"))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            version = self.parser.get_http_version()
            if version not in HTTP_VERSIONS:
                raise _Refused(_bad_framing(f"HTTP/{version} is not spoken here; use HTTP/1.1"))
            if sum(name == b"transfer-encoding" for name, _ in self.headers) > 1:
                raise _Refused(_bad_framing("Transfer-Encoding may be given once"))
            self._head_bytes = None
            super().on_headers_complete()
            self._disarm_body()
            if not self.parser.should_upgrade() and self._expects_body():
                self._body_timer = self.loop.call_later(body_timeout_s, self._body_expired)

        def on_message_complete(self) -> None:
            self._disarm_body()
            self._head_bytes = 0
            super().on_message_complete()

        def _expects_body(self) -> bool:
            for name, value in self.headers:
                if name == b"transfer-encoding" or (
                    name == b"content-length" and value.strip() not in (b"", b"0")
                ):
                    return True
            return False

        def _disarm_body(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_expired(self) -> None:
            self._body_timer = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                detail = f"The request's body did not arrive within {body_timeout_s:g} seconds."
                self.transport.write(raw_problem(408, "Request Timeout", detail))
            if cycle is not None:  # the app, waiting for the body, hears a disconnect
                cycle.disconnected = True
            self.transport.close()

        def _refuse(self, answer: bytes) -> None:
            self._disarm_head()
            self.transport.write(answer)
            self.transport.close()

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
            # A parser callback that refused the request says how (httptools wraps its error).
            refused = self.parser_error_cause()
            if refused is not None:
                self._refuse(refused.answer)
                return
            detail = "The request is not valid HTTP/1.1 (request line or headers)."
            self._refuse(raw_problem(400, "Bad Request", detail))

        def parser_error_cause(self) -> _Refused | None:
            error = sys.exc_info()[1]
            cause = error.__context__ if error is not None else None
            return cause if isinstance(cause, _Refused) else None

    return HeadLimited


def settings_protocol(
    settings: Settings, head_timeout_s: float = HEAD_TIMEOUT_S
) -> type[asyncio.Protocol]:
    """The protocol with the head and body bounds of `settings`."""
    return head_limited_protocol(
        head_timeout_s,
        max_head_bytes=settings.max_head_bytes,
        max_headers=settings.max_headers,
        body_timeout_s=settings.body_timeout_s,
    )


def _bad_framing(reason: str) -> bytes:
    return raw_problem(400, "Bad Request", f"{reason}.")
