"""The one error handler: every error leaves as an application/problem+json document.

`as_problem` maps every error the library raises on purpose to its status and the words a
client reads. Anything else is a bug: the request pipeline (api/pipeline.py) logs it with the
request id and answers `internal_error()`, the one 500 of the server.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from recent_calls.errors import Conflict as ConflictError
from recent_calls.errors import (
    DatabaseLocked,
    DatabaseRefused,
    DatabaseUnavailable,
    DuplicateTenant,
    FieldError,
    ImportRejected,
    InsufficientStorage,
    InvalidRequest,
    ProblemError,
    QueryTimeout,
    RecentCallsError,
    ServiceUnavailable,
    StorageFull,
    WriteConflict,
)

log = logging.getLogger("recent_calls")

PROBLEM_JSON = "application/problem+json"

_TITLES = {404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


class _Generic(ProblemError):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.slug = status, title, title.lower().replace(" ", "-")


def problem_response(error: ProblemError) -> Response:
    return Response(
        orjson.dumps(error.problem()),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )


def internal_error() -> ProblemError:
    """The answer to a bug: no detail of it reaches the client (the log has it)."""
    return _Generic(500, _TITLES[500], "The server failed to answer; it has been logged.")


def _storage_problem(exc: RecentCallsError) -> ProblemError | None:
    if isinstance(exc, QueryTimeout) and exc.write:
        limit = f" than {exc.timeout_ms} ms" if exc.timeout_ms else ""
        return ServiceUnavailable(
            f"The write ran longer{limit} and was stopped; nothing of it was stored. "
            "Try again, or send smaller batches.",
            retry_after=1,
        )
    if isinstance(exc, QueryTimeout):
        limit = f" than {exc.timeout_ms} ms" if exc.timeout_ms else ""
        return ServiceUnavailable(
            f"The query ran longer{limit} and was stopped; "
            "narrow the request (a shorter window, fewer filters) or try again.",
            retry_after=1,
        )
    if isinstance(exc, WriteConflict):
        return ServiceUnavailable(f"A concurrent write conflicted ({exc}); try again.", 1)
    if isinstance(exc, DatabaseUnavailable):
        return ServiceUnavailable("The database is not answering; try again shortly.", 5)
    if isinstance(exc, DatabaseRefused):
        return ServiceUnavailable(
            f"The database cannot serve this request now ({exc.reason}); try again later.", 30
        )
    if isinstance(exc, StorageFull):
        return InsufficientStorage(
            "The database's disk is full; nothing of this request was stored. Try again later.",
            retry_after=30,
        )
    if isinstance(exc, DatabaseLocked):
        return ServiceUnavailable(str(exc), retry_after=5)
    if isinstance(exc, DuplicateTenant):
        return ConflictError(str(exc))
    if isinstance(exc, ImportRejected):
        return exc.as_problem()
    return None


def as_problem(exc: Exception) -> ProblemError | None:
    """The problem document for an error raised on purpose; None for a bug."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, RecentCallsError):
        return _storage_problem(exc)
    if isinstance(exc, RequestValidationError):
        errors = [
            FieldError(".".join(str(p) for p in item["loc"][1:]) or "body", str(item["msg"]))
            for item in exc.errors()
        ]
        return InvalidRequest(errors)
    if isinstance(exc, HTTPException):
        title = _TITLES.get(exc.status_code, "Error")
        detail = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
        error = _Generic(exc.status_code, title, detail)
        error.headers = dict(exc.headers or {})
        return error
    return None


async def _handle(request: Request, exc: Exception) -> Response:
    problem = as_problem(exc)
    if problem is None:  # not ours: the pipeline's one 500 handler takes it
        raise exc
    return problem_response(problem)


def install(app: FastAPI) -> None:
    """Route every error raised on purpose through the one handler."""
    for kind in (RecentCallsError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, _handle)
