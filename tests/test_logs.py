"""Access logs: one JSON line per request, a request id echoed to the caller, no secret logged."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from recent_calls.admin.credentials import issue
from recent_calls.api.logs import JsonFormatter, request_id_from
from recent_calls.storage import open_storage
from tests.calls import make_call
from tests.support import LiveServer, ServerProcess

BODY = {"page": 1, "rows": 5, "duration": "allhistory"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("req.7:part_2", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("new\nline", False),
        ('{"json": 1}', False),
        ("ünï", False),
    ],
)
def test_a_sane_incoming_request_id_is_kept_and_any_other_replaced(given: str, kept: bool) -> None:
    chosen = request_id_from(given)
    assert (chosen == given) is kept
    assert 1 <= len(chosen) <= 128


def test_every_answer_echoes_the_request_id(server: LiveServer) -> None:
    mine = server.http.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["X-Request-ID"] == "trace-42"
    made = server.http.get("/healthz", headers={"X-Request-ID": "bad id;x"})
    assert made.headers["X-Request-ID"] not in ("", "bad id;x")
    missing = server.http.get("/nowhere")
    assert missing.status_code == 404 and len(missing.headers["X-Request-ID"]) == 32
    assert server.http.get("/healthz").headers["X-Request-ID"] != missing.headers["X-Request-ID"]


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "recent_calls.access"]


def test_the_access_line_holds_the_request_fields(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    alice = server.tenant("alice")
    with caplog.at_level(logging.INFO, logger="recent_calls.access"):
        answer = server.post(
            {**BODY, "tenantId": "alice"}, alice, headers={"X-Request-ID": "line-1"}
        )
        # The line is written once the answer is sent, so it may land just after the client
        # has it.
        deadline = time.monotonic() + 5
        while not _access(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert answer.status_code == 200
    [record] = _access(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["requestId"] == "line-1"
    assert line["method"] == "POST"
    assert line["path"] == "/customerexperience/v1/recentCallData/us"
    assert line["status"] == 200
    assert line["bytes"] == len(answer.content)
    assert line["durationMs"] >= 0
    assert line["level"] == "info" and line["logger"] == "recent_calls.access"


def test_no_secret_reaches_the_server_log(tmp_path: Path) -> None:
    """A real server process: every log line is JSON, and no secret or body appears in any."""
    database = str(tmp_path / "calls.duckdb")
    storage = open_storage(database)
    storage.create_tenant("alice", "us")
    alice = issue(storage, "alice", "us")
    storage.close()
    admin_token = "admin-secret-" + "z" * 20
    marker = "BODY-MARKER-4242"
    log_path = tmp_path / "server.log"
    env = {"RECENT_CALLS_ADMIN_TOKEN": admin_token, "RECENT_CALLS_LOG_FORMAT": "json"}
    with (
        ServerProcess(database, log_path, env) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        keys = {"8x8-apikey": alice.api_key, "token": alice.token}
        path = "/customerexperience/v1/recentCallData/us"
        assert http.post(path, json={**BODY, "tenantId": "alice"}, headers=keys).status_code == 200
        # A bad body, a wrong token, the other key spelling and a query string.
        assert http.post(path, json={"tenantId": marker}, headers=keys).status_code == 400
        wrong = {"8x8-api-key": alice.api_key, "token": alice.token + "x"}
        assert http.post(path + f"?q={marker}", json=BODY, headers=wrong).status_code == 401
        pushed = http.post(
            "/customerexperience/v1/calls/us",
            json={
                "tenantId": "alice",
                "calls": [make_call(marker, 1710000000000, callerName=marker)],
            },
            headers=keys,
        )
        assert pushed.status_code == 200
        admin = {"Authorization": f"Bearer {admin_token}"}
        assert http.get("/admin/v1/tenants/alice/credentials", headers=admin).status_code == 200
        bad_admin = {"Authorization": f"Bearer {admin_token}x"}
        assert http.get("/admin/v1/tenants/alice/credentials", headers=bad_admin).status_code == 401
    text = log_path.read_text()
    for secret in (alice.api_key, alice.token, admin_token, marker, "Bearer"):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "recent_calls.access"]
    assert len(access) >= 6
    assert all(line["requestId"] for line in access)
    assert [a["status"] for a in access if a["path"].startswith("/customer")] == [
        200,
        400,
        401,
        200,
    ]


@pytest.mark.expects_500
def test_an_unexpected_error_answers_a_problem_with_the_request_id(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A storage fault the code does not expect is still a problem document, logged by id."""
    alice = server.tenant("alice")
    server.storage.close()  # the database disappears under the running app
    with caplog.at_level(logging.INFO, logger="recent_calls"):
        answer = server.post({**BODY, "tenantId": "alice"}, alice, headers={"X-Request-ID": "e-1"})
    assert answer.status_code in (500, 503)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["X-Request-ID"] == "e-1"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Traceback" not in answer.text and "SELECT" not in answer.text
    assert any(getattr(r, "request_id", None) or r.name == "recent_calls" for r in caplog.records)
