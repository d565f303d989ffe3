"""The one error handler: every error leaves as an application/problem+json document."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .errors import (
    DatabaseLocked,
    FieldError,
    ImportRejected,
    InvalidRequest,
    ProblemError,
    ServiceUnavailable,
)

log = logging.getLogger("recent_calls")

PROBLEM_JSON = "application/problem+json"


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


def _as_problem(exc: Exception) -> ProblemError:
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, ImportRejected):
        return exc.as_problem()
    if isinstance(exc, DatabaseLocked):
        return ServiceUnavailable(str(exc), retry_after=5)
    if isinstance(exc, RequestValidationError):
        errors = [
            FieldError(".".join(str(p) for p in item["loc"][1:]) or "body", str(item["msg"]))
            for item in exc.errors()
        ]
        return InvalidRequest(errors)
    if isinstance(exc, HTTPException):
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        title = titles.get(exc.status_code, "Error")
        detail = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
        error = _Generic(exc.status_code, title, detail)
        error.headers = dict(exc.headers or {})
        return error
    log.exception("unhandled error", exc_info=exc)
    return _Generic(
        500, "Internal Server Error", "The server failed to answer; it has been logged."
    )


async def _handle(request: Request, exc: Exception) -> Response:
    return problem_response(_as_problem(exc))


def install(app: FastAPI) -> None:
    """Route every error, expected or not, through the one handler."""
    for kind in (ProblemError, ImportRejected, DatabaseLocked, RequestValidationError,
                 HTTPException, Exception):  # fmt: skip
        app.add_exception_handler(kind, _handle)
