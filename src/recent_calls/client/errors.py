"""The client's exceptions, all raised on purpose, form one tree:

ClientError                      base of the client's errors (a RecentCallsError)
+-- ConfigurationError           no API key or token, an unknown region, a bad setting
|   +-- MissingCredentials       no API key or no token
+-- TransportError               no answer after every retry: connection refused, timeout
+-- UnexpectedResponse           a success answer that is not the documented shape
+-- APIError                     an error answer; carries status, problem document, request
    +-- BadRequestError          400, with `errors`: one FieldError per bad field
    +-- AuthenticationError      401
    +-- PermissionDeniedError    403
    +-- NotFoundError            404
    +-- PayloadTooLargeError     413
    +-- UnsupportedMediaTypeError 415
    +-- RateLimitError           429 after every retry, or a Retry-After beyond the limit
    +-- ServerError              5xx after every retry
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from recent_calls.errors import FieldError, RecentCallsError


class ClientError(RecentCallsError):
    """Base class of every error the client raises."""


class ConfigurationError(ClientError):
    """The client was not given what it needs (credentials, a known region)."""


class MissingCredentials(ConfigurationError):
    """No API key or no token was given (a CLI names its own options for them)."""


class TransportError(ClientError):
    """The server could not be reached, or did not answer in time, after every retry."""

    def __init__(self, message: str, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class UnexpectedResponse(ClientError):
    """A success answer whose body is not the documented shape."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class APIError(ClientError):
    """An error answer; `problem` is its RFC 9457 problem document (or what the body held)."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        self.response = response
        self.request = response.request
        self.status = response.status_code
        self.problem = problem
        self.title = str(problem.get("title") or response.reason_phrase)
        self.detail = str(problem.get("detail") or "")
        message = f"{self.status} {self.title}"
        super().__init__(f"{message}: {self.detail}" if self.detail else message)


class BadRequestError(APIError):
    """400: the request has invalid fields, each named in `errors`."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        super().__init__(response, problem)
        self.errors = [
            FieldError(str(item.get("field", "")), str(item.get("message", "")))
            for item in problem.get("errors") or []
            if isinstance(item, dict)
        ]


class AuthenticationError(APIError):
    """401: the API key or token is missing, unknown or revoked."""


class PermissionDeniedError(APIError):
    """403: the credential may not read this tenant in this region."""


class NotFoundError(APIError):
    """404: no such version, region or path."""


class PayloadTooLargeError(APIError):
    """413: the body is too large."""


class UnsupportedMediaTypeError(APIError):
    """415: the body is not sent as application/json."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the wait the server asked for, in seconds."""

    def __init__(self, response: httpx.Response, problem: dict[str, Any]) -> None:
        super().__init__(response, problem)
        self.retry_after = retry_after(response)


class ServerError(APIError):
    """5xx: the server failed or is unavailable."""


_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
}


def api_error(response: httpx.Response) -> APIError:
    """The error an error answer stands for, carrying its problem document."""
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"status": response.status_code, "detail": response.text[:1000]}
    kind = _ERRORS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else APIError
    return kind(response, problem)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer asks the caller to wait (delay-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
