"""The request pipeline: one ASGI layer around the app, with one `send` wrapper.

For every HTTP request, in this order:
1. a request id (the caller's `X-Request-ID` when sane, else a new one), echoed on the answer;
2. injected faults, when configured (api/faults.py), on the Recent Calls API paths only;
3. the app itself;
4. on the answer: the request id, the security headers (below), the RateLimit-* fields of a
   request that took a token (api/ratelimit.py);
5. an unhandled exception: logged with the request id, answered with the one 500 problem;
6. one access line (api/logs.py), written before the answer's last byte is sent.

Security headers, the one place they are set. Every answer: `X-Content-Type-Options: nosniff`,
`Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`. API answers (JSON and problem
documents): `Cache-Control: no-store` (call data must not sit in shared or browser caches) and
a Content-Security-Policy that allows nothing. The web page and its files: a policy that runs
only the page's own scripts and styles and talks only to this server, and `Cache-Control:
no-cache`. The API docs page (`/docs`, swagger-ui served from a pinned package) and its files
get the web page's policy: nothing on this origin loads from elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recent_calls.api.faults import API_PREFIX, FaultInjector
from recent_calls.api.logs import REQUEST_ID_HEADER, request_id_from, request_id_var, write_access
from recent_calls.api.metrics import Metrics
from recent_calls.api.problems import internal_error, problem_response
from recent_calls.api.ratelimit import STATE_KEY, Decision

log = logging.getLogger("recent_calls")

EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_ANSWER = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
PAGE_ANSWER = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
API_MEDIA_TYPES = ("application/json", "application/problem+json")


def _is_page(path: str) -> bool:
    return path in ("/", "/docs") or path.startswith(("/static/", "/docs/"))


def security_headers(path: str, media_type: str) -> dict[str, str]:
    """The security headers an answer to `path` of `media_type` gets."""
    wanted = dict(EVERY_ANSWER)
    if media_type in API_MEDIA_TYPES:
        wanted.update(API_ANSWER)
    elif _is_page(path):
        wanted.update(PAGE_ANSWER)
    return wanted


class Pipeline:
    """The one middleware of the app (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, faults: FaultInjector | None = None, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.faults = faults
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"),
            None,
        )
        request_id = request_id_from(given)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        path = str(scope.get("path", ""))
        answer: dict[str, Any] = {"status": 500, "bytes": 0, "started": False, "logged": False}

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["started"] = True
                answer["status"] = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                media_type = headers.get("content-type", "").split(";")[0].strip().lower()
                for name, value in security_headers(path, media_type).items():
                    if name not in headers:
                        headers[name] = value
                decision = state.get(STATE_KEY)
                if isinstance(decision, Decision):
                    for name, value in decision.headers().items():
                        headers[name] = value
            elif message["type"] == "http.response.body":
                answer["bytes"] = int(answer["bytes"]) + len(message.get("body", b""))
                if not message.get("more_body", False):
                    logged()  # before the last byte leaves: a client never outruns the log
            await send(message)

        def logged() -> None:
            if not answer["logged"]:
                answer["logged"] = True
                status, size = int(answer["status"]), int(answer["bytes"])
                write_access(scope, status, size, started, state.get(STATE_KEY))
                if (
                    self.metrics is not None
                ):  # requests by route and status, latency (api/metrics.py)
                    decision = state.get(STATE_KEY)
                    limited = isinstance(decision, Decision) and not decision.allowed
                    self.metrics.observe(scope, status, time.perf_counter() - started, limited)

        try:
            if self.faults is not None and path.startswith(API_PREFIX):
                delay_s, fault = self.faults.draw()
                if delay_s:
                    await asyncio.sleep(delay_s)
                if fault is not None:
                    await problem_response(fault)(scope, receive, send_answer)
                    return
            await self.app(scope, receive, send_answer)
        except Exception:
            log.exception("unhandled error")
            if answer["started"]:
                raise
            await problem_response(internal_error())(scope, receive, send_answer)
        finally:
            logged()
            request_id_var.reset(token)
