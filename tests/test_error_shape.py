"""Every error leaves in one shape: an RFC 9457 problem document, from the one handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from recent_calls.api.app import create_app
from recent_calls.api.problems import as_problem
from recent_calls.errors import (
    DatabaseLocked,
    DatabaseUnavailable,
    DuplicateTenant,
    FieldError,
    ImportRejected,
    QueryTimeout,
    RecentCallsError,
    WriteConflict,
)
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant

DATA = "/customerexperience/v1/recentCallData/us"
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


@pytest.fixture
def http(storage: Storage, database: str) -> Iterator[InProcessHTTP]:
    settings = Settings(
        database=database, now=FROZEN_NOW, rate_limit_burst=12, rate_limit_per_s=0.001
    )
    client = InProcessHTTP(create_app(settings, storage=storage))
    yield client
    client.close()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]
    document: dict[str, Any] = response.json()
    expected = ["type", "title", "status", "detail"] + (["errors"] if status == 400 else [])
    assert list(document) == expected
    assert document["status"] == status
    assert document["type"].startswith("https://") and document["title"] and document["detail"]
    if status == 400:
        assert document["errors"] and all(
            list(e) == ["field", "message"] for e in document["errors"]
        )
    return document


def test_each_client_error_is_a_problem_document(storage: Storage, http: InProcessHTTP) -> None:
    acme = add_tenant(storage, "acme", "us", [])
    other = add_tenant(storage, "other", "us", [])
    auth = {"8x8-apikey": acme.api_key, "token": acme.token}
    json_type = {**auth, "content-type": "application/json"}
    cases: list[tuple[int, httpx.Response]] = [
        (400, http.post(DATA, json={"tenantId": "acme", "page": 0}, headers=auth)),
        (400, http.post(DATA, content=b"{", headers=json_type)),
        (401, http.post(DATA, json=BODY)),
        (401, http.post(DATA, json=BODY, headers={**auth, "token": "nope"})),
        (
            403,
            http.post(DATA, json=BODY, headers={"8x8-apikey": other.api_key, "token": other.token}),
        ),
        (404, http.get("/nothing/here")),
        (404, http.post("/customerexperience/v2/recentCallData/us", json=BODY)),
        (404, http.post(DATA + "/", json=BODY, headers=auth)),  # no slash redirect
        (405, http.get(DATA)),
        (413, http.post(DATA, content=b" " * (1024 * 1024 + 1), headers=json_type)),
        (415, http.post(DATA, content=b"{}", headers={**auth, "content-type": "text/plain"})),
    ]
    for status, response in cases:
        assert_problem(response, status)
    statuses = [http.post(DATA, json=BODY, headers=auth).status_code for _ in range(12)]
    assert 429 in statuses
    limited = http.post(DATA, json=BODY, headers=auth)
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1


@pytest.mark.expects_500
def test_a_bug_is_one_500_problem_with_nothing_of_the_bug_in_it(
    storage: Storage, http: InProcessHTTP, engine: str
) -> None:
    acme = add_tenant(storage, "acme", "us", [])
    auth = {"8x8-apikey": acme.api_key, "token": acme.token}
    assert http.post(DATA, json=BODY, headers=auth).status_code == 200  # credential now kept
    storage.close()  # the database goes away under the app: not an error the code expects
    response = http.post(DATA, json=BODY, headers={**auth, "X-Request-ID": "bug-1"})
    status = 500 if engine == "duckdb" else 503  # PostgreSQL: its pool says it is closed
    document = assert_problem(response, status)
    assert response.headers["X-Request-ID"] == "bug-1"
    assert "Traceback" not in response.text and "SELECT" not in response.text
    if status == 500:
        assert document["detail"] == "The server failed to answer; it has been logged."


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (QueryTimeout(200), 503),
        (DatabaseUnavailable("down"), 503),
        (WriteConflict("40001"), 503),
        (DatabaseLocked("held"), 503),
        (DuplicateTenant("acme"), 409),
        (ImportRejected([FieldError("line 1", "bad")], 1), 400),
    ],
)
def test_every_domain_error_has_a_status(error: RecentCallsError, status: int) -> None:
    problem = as_problem(error)
    assert problem is not None and problem.status == status
    document = problem.problem()
    assert list(document)[:4] == ["type", "title", "status", "detail"]
    if status == 503:
        assert int(problem.headers["Retry-After"]) >= 1


def test_an_error_that_is_not_ours_has_no_problem_of_its_own() -> None:
    assert as_problem(KeyError("x")) is None
