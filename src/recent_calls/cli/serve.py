"""`recent-calls serve`: open the database, seed the demo if asked, print a banner, serve."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import shlex
import signal
import socket
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn

from recent_calls.admin.control import Control, remove_control, write_control
from recent_calls.admin.credentials import IssuedCredential
from recent_calls.admin.local import LocalAdmin
from recent_calls.api.app import create_app
from recent_calls.api.faults import FaultPlan
from recent_calls.api.logs import configure as configure_logs
from recent_calls.api.protocol import HEAD_TIMEOUT_S, settings_protocol
from recent_calls.cli.workers import serve_processes
from recent_calls.clock import make_clock
from recent_calls.demo import DEMO_TENANTS
from recent_calls.settings import Settings
from recent_calls.storage import is_server_url, open_storage, redact
from recent_calls.storage.base import Storage


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
    """A curl command that works as pasted, for one credential: a read of the tenant's calls
    for a read credential, else a push (of an empty batch, which stores nothing)."""
    if "read" in credential.scopes:
        zone = next(t.timezone for t in DEMO_TENANTS if t.tenant_id == credential.tenant_id)
        endpoint = "recentCallData"
        fields: dict[str, Any] = {"page": 1, "rows": 5, "duration": "allhistory", "timezone": zone}
    else:
        endpoint, fields = "calls", {"calls": []}
    body = orjson.dumps({"tenantId": credential.tenant_id, **fields}).decode()
    return (
        f"curl -s -X POST {url}/customerexperience/v1/{endpoint}/{credential.region} "
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
    shown: set[str] = set()
    for credential in issued:
        if credential.tenant_id not in shown:
            shown.add(credential.tenant_id)
            lines += ["", f"Demo tenant {credential.tenant_id} (region {credential.region}):"]
        use = "read: the console" if "read" in credential.scopes else "push: sending calls"
        lines += [
            f"  {use}",
            f"  8x8-apikey: {credential.api_key}",
            f"  token:      {credential.token}",
            f"  {curl_example(url, credential)}",
        ]
    return "\n".join(lines)


def uvicorn_options(settings: Settings, head_timeout_s: float = HEAD_TIMEOUT_S) -> dict[str, Any]:
    """What uvicorn is told about the HTTP edge: our protocol, and whose X-Forwarded-For to
    believe (only the configured proxies': uvicorn's default believes any loopback peer)."""
    return {
        "http": settings_protocol(settings, head_timeout_s),
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }


def _run(app: object, sock: socket.socket, log_level: str, settings: Settings) -> None:
    # Our own access log (api/logs.py) replaces uvicorn's: JSON, with request ids, no query strings.
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=log_level,
        lifespan="on",
        server_header=False,
        access_log=False,
        log_config=None,  # logs.configure has set up every logger, uvicorn's included
        **uvicorn_options(settings),
    )
    # What the process holds once it is set up lives as long as it does: the cyclic collector
    # need not walk it again. Its full collections, every few large pages, had to: 25-35 ms
    # each, the slowest twentieth of 5000-row pages.
    gc.collect()
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])


def interrupt_on_term(_signum: int, _frame: object) -> None:
    """A SIGTERM handler that stops the server the way SIGINT does (KeyboardInterrupt)."""
    raise KeyboardInterrupt


def check_workers(settings: Settings) -> None:
    """ValueError when more than one API process is asked of an embedded database."""
    if settings.workers > 1 and not is_server_url(settings.database):
        raise ValueError(
            "--workers needs a server database (postgresql://...): an embedded database file "
            "can be written by one process only"
        )


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    demo_calls: int | None,
    seed: int,
    echo: Callable[[str], None],
    log_level: str = "info",
) -> int:
    """Run the server until interrupted; `demo_calls` seeds empty demo tenants first.

    With `settings.workers` > 1 (a server database only), that many API processes share the
    socket (cli/workers.py). Returns the exit status.
    """
    check_workers(settings)
    configure_logs(settings.log_format, getattr(logging, log_level.upper(), logging.INFO))
    # uvicorn re-raises the stop signal once it has shut down; SIGTERM's default action would
    # then end the process before the cleanup below (control file, storage) runs.
    previous_term = signal.signal(signal.SIGTERM, interrupt_on_term)
    embedded = not is_server_url(settings.database)
    clock = make_clock(settings.now)
    storage: Storage | None = open_storage(
        settings.database, pool_size=settings.pool_size, clock=clock
    )
    sock = None
    try:
        assert storage is not None
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
        if settings.workers == 1:
            _run(create_app(settings, storage=storage), sock, log_level, settings)
            return 0
        storage.close()  # before forking: each worker opens a pool of its own
        storage = None
        served = settings

        def run_one(shared: socket.socket) -> None:
            own = open_storage(served.database, pool_size=served.pool_size, migrate=False)
            try:
                _run(create_app(served, storage=own), shared, log_level, served)
            finally:
                own.close()

        return serve_processes(settings.workers, sock, run_one)
    finally:
        if sock is not None:
            sock.close()
        if embedded:
            remove_control(settings.database)
        if storage is not None:
            storage.close()
        signal.signal(signal.SIGTERM, previous_term)
