"""Structured access logs: one JSON line per request, tied to its answer by a request id.

A request's id is the caller's `X-Request-ID` when it is sane (1-128 letters, digits and
`._:-`), otherwise a fresh one; the answer echoes it in `X-Request-ID`. An access line holds
only what is listed in `AccessLog`: never a header value other than the user agent, never a
query string and never a body, so no api key, token, admin token or call data reaches the logs.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any, Literal

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ProblemError
from .middleware import API_ANSWER, EVERY_ANSWER
from .problems import problem_response

access_log = logging.getLogger("recent_calls.access")
log = logging.getLogger("recent_calls")

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

LogFormat = Literal["json", "text"]


def request_id_from(given: str | None) -> str:
    """The caller's request id when it is sane, else a new one."""
    if given is not None and SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object: time, level, logger, message, request id, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Each record as one readable line, its fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = " ".join(f"{k}={v}" for k, v in fields.items()) if isinstance(fields, dict) else ""
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        prefix = f"{self.formatTime(record)} {record.levelname:7} {record.name}"
        line = f"{prefix} [{request_id}] " if request_id else f"{prefix} "
        line += f"{record.getMessage()} {extra}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure` installs, so a second call replaces it."""


def configure(log_format: LogFormat = "json", level: int = logging.INFO) -> None:
    """Send the `recent_calls` loggers to standard error in `log_format`; idempotent."""
    logger = logging.getLogger("recent_calls")
    for handler in [h for h in logger.handlers if isinstance(h, _OurHandler)]:
        logger.removeHandler(handler)
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _user_agent(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            return str(value.decode("latin-1")[:200])
    return None


class AccessLog:
    """ASGI middleware, outermost: request id, one access line per request, a last-resort 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"),
            None,
        )
        request_id = request_id_from(given)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        size = 0
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, size, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if response_started:
                raise
            # Answer here, with the request id and the security headers, rather than let the
            # server's last-resort handler answer without them.
            status = 500
            error = ProblemError("The server failed to answer; it has been logged.")
            error.headers = {**EVERY_ANSWER, **API_ANSWER}
            await problem_response(error)(scope, receive, send_with_id)
        finally:
            self._write(scope, status, size, started)
            request_id_var.reset(token)

    @staticmethod
    def _write(scope: Scope, status: int, size: int, started: float) -> None:
        decision = scope.get("state", {}).get("rate_limit")
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "path": str(scope.get("path", ""))[:512],
            "status": status,
            "durationMs": round((time.perf_counter() - started) * 1000, 2),
            "bytes": size,
            "client": _client(scope),
            "userAgent": _user_agent(scope),
        }
        if decision is not None:
            fields["rateLimitRemaining"] = getattr(decision, "remaining", None)
        request_id = scope.get("state", {}).get("request_id")
        access_log.info("request", extra={"fields": fields, "request_id": request_id})
