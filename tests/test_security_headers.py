"""Security headers on every answer; the web page keeps its own policy."""

from __future__ import annotations

import httpx
import pytest

from recent_calls.api.pipeline import PAGE_ANSWER as SECURITY_HEADERS
from tests.support import LiveServer

pytestmark = pytest.mark.embedded_only  # the HTTP edge does not depend on the engine

EVERY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
BODY = {"page": 1, "rows": 5, "duration": "allhistory"}


def _has_every(headers: httpx.Headers) -> None:
    for name, value in EVERY.items():
        assert headers.get(name) == value, name


def test_api_answers_carry_the_headers_and_are_not_cached(server: LiveServer) -> None:
    alice = server.tenant("alice")
    answers = [
        server.post({**BODY, "tenantId": "alice"}, alice),  # 200
        server.post({**BODY, "tenantId": "bob"}, alice),  # 403
        server.post(BODY),  # 401
        server.post({"tenantId": "alice"}, alice),  # 400
        server.http.post("/customerexperience/v9/recentCallData/us", json=BODY),  # 404
        server.http.get("/customerexperience/v1/recentCallData/us"),  # 405
        server.http.get("/healthz"),
        server.http.get("/openapi.json"),
    ]
    assert [a.status_code for a in answers] == [200, 403, 401, 400, 404, 405, 200, 200]
    for answer in answers:
        _has_every(answer.headers)
        assert answer.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/app.css"])
def test_the_web_page_keeps_its_own_policy(server: LiveServer, path: str) -> None:
    answer = server.http.get(path)
    assert answer.status_code == 200
    _has_every(answer.headers)
    assert answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == SECURITY_HEADERS["Cache-Control"]
    assert answer.headers.get_list("Content-Security-Policy") == [
        SECURITY_HEADERS["Content-Security-Policy"]
    ]


def test_the_docs_page_and_its_files_get_the_pages_policy(server: LiveServer) -> None:
    # swagger-ui is served from this origin (a pinned package), so the page's policy holds.
    for path in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/static/docs.js"):
        answer = server.http.get(path)
        assert answer.status_code == 200, path
        _has_every(answer.headers)
        assert (
            answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )
    assert server.http.get("/docs/swagger-editor.js").status_code == 404


def test_error_answers_show_no_stack_trace_or_sql(server: LiveServer) -> None:
    alice = server.tenant("alice")
    bodies = [
        {**BODY, "tenantId": "alice", "callerName": ["'; DROP TABLE calls; --"]},
        {**BODY, "tenantId": "alice", "sortColumn": "callDate desc --"},
        {**BODY, "tenantId": "alice", "page": 10**30},
        {**BODY, "tenantId": "alice", "timezone": "../../etc/passwd"},
    ]
    for body in bodies:
        answer = server.post(body, alice)
        assert answer.status_code in (200, 400)
        for word in ("Traceback", "SELECT ", "FROM calls", "duckdb", "psycopg"):
            assert word not in answer.text
