"""`recent-calls serve`: open the database, seed the demo if asked, print a banner, serve."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import socket
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn

from .admin import LocalAdmin
from .app import create_app
from .clock import make_clock
from .control import Control, remove_control, write_control
from .credentials import IssuedCredential
from .demo import DEMO_TENANTS
from .errors import ProblemError
from .faults import FaultPlan
from .settings import Settings
from .storage import is_server_url, open_storage
from .storage.postgres_store import redact

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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _reachable(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def curl_example(url: str, credential: IssuedCredential) -> str:
    """A curl command that works as pasted, for one credential."""
    zone = next(t.timezone for t in DEMO_TENANTS if t.tenant_id == credential.tenant_id)
    body = orjson.dumps(
        {
            "tenantId": credential.tenant_id,
            "page": 1,
            "rows": 5,
            "duration": "allhistory",
            "timezone": zone,
        }
    ).decode()
    return (
        f"curl -s -X POST {url}/customerexperience/v1/recentCallData/{credential.region} "
        f"-H {shlex.quote('8x8-apikey: ' + credential.api_key)} "
        f"-H {shlex.quote('token: ' + credential.token)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


def banner(url: str, database: str, issued: list[IssuedCredential], faults: str = "") -> str:
    # A PostgreSQL URL may hold a password: the banner (and so any log of it) never shows it.
    lines = [
        f"recent-calls serving {redact(database)}",
        f"Listening on {url}",
        f"API docs: {url}/docs",
    ]
    lines += [faults] if faults else []
    for credential in issued:
        lines += [
            "",
            f"Demo tenant {credential.tenant_id} (region {credential.region}):",
            f"  8x8-apikey: {credential.api_key}",
            f"  token:      {credential.token}",
            f"  {curl_example(url, credential)}",
        ]
    return "\n".join(lines)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    demo_calls: int | None,
    seed: int,
    echo: Callable[[str], None],
    log_level: str = "info",
) -> None:
    """Run the server until interrupted; `demo_calls` seeds empty demo tenants first."""
    clock = make_clock(settings.now)
    storage = open_storage(settings.database, pool_size=settings.pool_size, clock=clock)
    embedded = not is_server_url(settings.database)
    sock = None
    try:
        issued = []
        if demo_calls is not None:
            admin = LocalAdmin(storage, clock)
            issued = admin.seed_demo(demo_calls, seed, replace=False)
        sock = _bind(host, port)
        url = _reachable(host, sock.getsockname()[1])
        token = settings.admin_token or secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"admin_token": token})
        if embedded:
            write_control(settings.database, Control(url, token, os.getpid()))
        echo(banner(url, settings.database, issued, FaultPlan.from_settings(settings).describe()))
        app = create_app(settings, storage=storage)
        # Our own access log (logs.py) replaces uvicorn's: JSON, with request ids, no query strings.
        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            server_header=False,
            access_log=False,
            http=head_limited_protocol(),
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if sock is not None:
            sock.close()
        if embedded:
            remove_control(settings.database)
        storage.close()
