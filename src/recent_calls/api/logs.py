"""Structured access logs: one JSON line per request, tied to its answer by a request id.

A request's id is the caller's `X-Request-ID` when it is sane (1-128 letters, digits and
`._:-`), otherwise a fresh one; the answer echoes it in `X-Request-ID`. An access line holds
only what is listed in `AccessLog`: never a header value other than the user agent, never a
query string and never a body, so no api key, token, admin token or call data reaches the logs;
an API key or token a client put in the path is masked.
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


# What could end a line or restyle a terminal: C0 and C1 controls, DEL, Unicode line breaks.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _text_value(value: object) -> str:
    """A field's value for a text line: numbers bare, anything else a quoted JSON string, so
    that a value cannot end the line or add a field."""
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    if isinstance(value, int | float):
        return str(value)
    return _escaped(orjson.dumps(str(value)).decode())


class TextFormatter(logging.Formatter):
    """Each record as one readable line, its fields as key=value with quoted values; control
    characters escaped, so that a request cannot write a line or a field of its own."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = (
            " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
            if isinstance(fields, dict)
            else ""
        )
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        prefix = f"{self.formatTime(record)} {record.levelname:7} {record.name}"
        line = f"{prefix} [{request_id}] " if request_id else f"{prefix} "
        line += f"{_escaped(record.getMessage())} {extra}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure` installs, so a second call replaces it."""


# Every logger that writes to a server's standard error: ours, the server's, the database
# driver's and its pool's. In the JSON format each of their lines must be a JSON object.
SERVER_LOGGERS = ("recent_calls", "uvicorn", "psycopg", "psycopg_pool")


def configure(log_format: LogFormat = "json", level: int = logging.INFO) -> None:
    """Send the server's loggers (SERVER_LOGGERS) to standard error in `log_format`, once per
    process (the server calls it; the app does not); idempotent."""
    unconfigure()
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    for name in SERVER_LOGGERS:
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("recent_calls").setLevel(level)


def unconfigure() -> None:
    """Remove what `configure` installed."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _OurHandler)]:
            logger.removeHandler(handler)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _user_agent(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            return str(value.decode("latin-1")[:200])
    return None


# Credentials a client put in a path: an API key (its id is kept, it is no secret) and a
# token (a UUID).
_API_KEY_IN_PATH = re.compile(r"rck_([0-9a-f]{8})_[A-Za-z0-9_-]+")
_TOKEN_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def redact_path(path: str) -> str:
    """`path` with any API key or token in it masked."""
    return _TOKEN_IN_PATH.sub("***", _API_KEY_IN_PATH.sub(r"rck_\1_***", path))


def write_access(
    scope: Scope, status: int, size: int, started: float, decision: object | None
) -> None:
    """The one access line of a request (called by the request pipeline, api/pipeline.py)."""
    if not access_log.isEnabledFor(logging.INFO):  # `serve --log-level warning`: none is written
        return
    fields: dict[str, Any] = {
        "method": scope.get("method"),
        "path": redact_path(str(scope.get("path", ""))[:512]),
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
