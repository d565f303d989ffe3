"""The one exception tree of recent-calls.

RecentCallsError                 base; every error the library raises on purpose
+-- ProblemError                 answered over HTTP as an RFC 9457 problem document
|   +-- InvalidRequest           400, with one {field, message} per bad field
|   +-- Unauthorized             401, missing or unknown credentials
|   +-- Forbidden                403, credentials not bound to the tenant asked for
|   +-- NotFound                 404, no such route, version or region
|   +-- Conflict                 409, e.g. a tenant that already exists
|   +-- PayloadTooLarge          413
|   +-- UnsupportedMediaType     415
|   +-- RateLimited              429, with Retry-After
|   +-- ServiceUnavailable       503, e.g. a database that is busy or a statement timeout
|   +-- InsufficientStorage      507, the database's disk is full: nothing of the write was kept
+-- ImportRejected               an import file with invalid lines (InvalidRequest over HTTP)
+-- StorageError                 raised by storage; api/problems.py gives each its HTTP status
    +-- DatabaseLocked           the embedded database is held by another process
    +-- DatabaseUnavailable      the database does not answer, or its pool is exhausted
    +-- DatabaseRefused          the database answers but refuses for a reason of its own
    |                            (read-only, a schema it cannot find, no privilege)
    +-- StorageFull              the disk under the database is full
    +-- QueryTimeout             a statement ran past the statement timeout
    +-- WriteConflict            a concurrent write conflicted; the same write may succeed
    +-- DuplicateTenant          a tenant with that id exists already

Storage raises only RecentCallsError subclasses that say what happened, never HTTP advice:
the words a client reads are chosen where the status is (api/problems.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_REPORTED_ERRORS = 1000
"""The most field errors one answer lists (imports of millions of bad lines count the rest)."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field (or import line) and what was expected of it."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RecentCallsError(Exception):
    """Base class of every error recent-calls raises on purpose."""


class ProblemError(RecentCallsError):
    """An error with an HTTP status, rendered as application/problem+json."""

    status: int = 500
    title: str = "Internal Server Error"
    slug: str = "internal"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return f"https://recent-calls.dev/problems/{self.slug}"

    def problem(self) -> dict[str, Any]:
        """The problem document, keys in RFC 9457 order."""
        return {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class InvalidRequest(ProblemError):
    status = 400
    title = "Bad Request"
    slug = "invalid-request"

    def __init__(
        self,
        errors: list[FieldError],
        detail: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.errors = errors
        # Figures a client reads instead of parsing `detail` (an import's `lines`, `invalid`).
        self.counts = counts or {}
        fields = ", ".join(dict.fromkeys(e.field for e in errors))
        super().__init__(detail or f"The request has invalid fields: {fields}.")

    def problem(self) -> dict[str, Any]:
        doc = super().problem()
        doc.update(self.counts)
        doc["errors"] = [e.as_dict() for e in self.errors]
        return doc


class Unauthorized(ProblemError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(ProblemError):
    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Content Too Large"
    slug = "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class RateLimited(ProblemError):
    status = 429
    title = "Too Many Requests"
    slug = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ServiceUnavailable(ProblemError):
    status = 503
    title = "Service Unavailable"
    slug = "unavailable"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(detail, headers=headers)


class InsufficientStorage(ProblemError):
    status = 507
    title = "Insufficient Storage"
    slug = "insufficient-storage"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        super().__init__(detail, headers=headers)


class ImportRejected(RecentCallsError):
    """An import whose lines are not all valid; nothing of it was stored."""

    def __init__(self, errors: list[FieldError], total: int, invalid: int | None = None) -> None:
        self.errors = errors  # one per bad field, so a line may have several; capped
        self.total = total
        self.invalid = len({e.field.split(".")[0] for e in errors}) if invalid is None else invalid
        super().__init__(f"{self.invalid} of {total} lines are invalid; nothing was imported")

    def as_problem(self) -> InvalidRequest:
        counts = {"lines": self.total, "invalid": self.invalid}
        return InvalidRequest(self.errors, detail=str(self), counts=counts)


class StorageError(RecentCallsError):
    """Something the database did or refused; storage raises these, never an HTTP error."""


class DatabaseLocked(StorageError):
    """The embedded database file is open for writing in another process."""


class DatabaseUnavailable(StorageError):
    """The database does not answer (down, unreachable, or every pooled connection busy)."""


class DatabaseRefused(StorageError):
    """The database answers but refuses the work for a reason of its own, not the client's."""

    def __init__(self, reason: str, cause: str) -> None:
        self.reason = reason
        """What the client may read: a short phrase, no names from inside the database."""
        super().__init__(f"{reason}: {cause}")


class StorageFull(StorageError):
    """The disk under the database is full; the write that hit it was not kept."""


class QueryTimeout(StorageError):
    """A statement ran longer than the statement timeout and was stopped."""

    def __init__(self, timeout_ms: int | None, *, write: bool = False) -> None:
        self.timeout_ms = timeout_ms
        self.write = write
        limit = f" than {timeout_ms} ms" if timeout_ms else ""
        super().__init__(f"the query ran longer{limit} and was stopped")


class WriteConflict(StorageError):
    """A concurrent write conflicted with this one (a retry may succeed)."""


class DuplicateTenant(StorageError):
    """A tenant with this id exists already."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id!r} already exists")


def problem_error(status: int, document: dict[str, Any]) -> ProblemError:
    """Rebuild the error a problem document describes (for clients of our own API)."""
    detail = str(document.get("detail", ""))
    if status == 400:
        errors = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in document.get("errors") or []
            if isinstance(e, dict)
        ]
        counts = {
            key: value
            for key in ("lines", "invalid")
            if isinstance(value := document.get(key), int) and not isinstance(value, bool)
        }
        return InvalidRequest(errors, detail=detail, counts=counts)
    if status == 429:
        return RateLimited(detail, 1)
    for kind in (Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                 UnsupportedMediaType, ServiceUnavailable, InsufficientStorage):  # fmt: skip
        if kind.status == status:
            return kind(detail)
    error = ProblemError(detail)
    error.status = status
    return error
