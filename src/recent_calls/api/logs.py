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
from starlette.types import Scope

access_log = logging.getLogger("recent_calls.access")

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


def write_access(
    scope: Scope, status: int, size: int, started: float, decision: object | None
) -> None:
    """The one access line of a request (called by the request pipeline, api/pipeline.py)."""
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
