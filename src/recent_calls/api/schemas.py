"""JSON shapes of the HTTP service itself: problem documents, and the push body and answer.

What queries answer with is in query/responses.py.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


class IngestRequest(BaseModel):
    """A batch of calls pushed as they end; stored atomically, idempotent by callId."""

    tenantId: str
    calls: list[dict[str, object]] = Field(description="Calls in the import shape (SPEC.md).")


class IngestResult(BaseModel):
    received: int
    inserted: int
    replaced: int


PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for status, text in (
        (400, "Invalid body or fields; `errors` names each one."),
        (401, "Missing or unknown credentials."),
        (403, "The credentials may not read this tenant in this region."),
        (404, "No such version or region."),
        (413, "Body too large."),
        (415, "Body is not application/json."),
        (429, "Too many requests; see Retry-After."),
        (503, "Temporarily unavailable; see Retry-After."),
    )
}
