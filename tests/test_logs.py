"""Access logs: one JSON line per request, a request id echoed to the caller, no secret logged."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from recent_calls.admin.credentials import issue
from recent_calls.api.app import create_app
from recent_calls.api.logs import (
    JsonFormatter,
    TextFormatter,
    configure,
    request_id_from,
    unconfigure,
)
from recent_calls.client.transport import tls_context
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from tests.calls import make_call
from tests.support import LiveServer, ServerProcess

pytestmark = pytest.mark.embedded_only  # what is logged does not depend on the engine

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
        httpx.Client(verify=tls_context(), base_url=server.url) as http,
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


# -- round two: text lines that cannot be forged, one format for every logger, redaction --------

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def _text_fields(line: str) -> dict[str, str]:
    """The key=value fields of a text line, quoted values decoded."""
    return {k: json.loads(v) if v.startswith('"') else v for k, v in _FIELD.findall(line)}


def _one_access(server: LiveServer, caplog: pytest.LogCaptureFixture, **request: Any) -> str:
    with caplog.at_level(logging.INFO, logger="recent_calls.access"):
        server.http.request(**request)
        deadline = time.monotonic() + 5
        while not _access(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
    [record] = _access(caplog)
    return TextFormatter().format(record)


def test_a_text_line_escapes_a_newline_in_the_path(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "/x%0A2026-01-01 00:00:00,000 INFO    recent_calls.access request status=200"
    line = _one_access(server, caplog, method="GET", url=forged)
    assert "\n" not in line and "\r" not in line
    fields = _text_fields(line)
    assert fields["status"] == "404"
    assert fields["path"].startswith("/x\n2026")  # kept, readable, but inside its quotes


def test_a_user_agent_cannot_add_or_replace_fields_of_a_text_line(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The parser refuses C0 controls in a header; C1 ones (8-bit CSI, NEL) pass as obs-text.
    agent = 'curl" status=200 client=10.9.9.9 x="\x9b31m\x85'
    line = _one_access(
        server,
        caplog,
        method="GET",
        url="/nowhere",
        headers={"User-Agent": agent.encode("latin-1")},
    )
    assert "\x9b" not in line and len(line.splitlines()) == 1
    fields = _text_fields(line)
    assert fields["status"] == "404" and fields["client"] == "127.0.0.1"
    assert fields["userAgent"] == agent
    assert "x" not in fields


def test_an_api_key_in_a_path_is_redacted_in_the_access_line(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    alice = server.tenant("alice")
    url = f"/customerexperience/v1/recentCallData/{alice.api_key}/{alice.token}"
    line = _one_access(server, caplog, method="GET", url=url)
    assert alice.api_key not in line and alice.token not in line
    assert f"rck_{alice.key_id}_***" in _text_fields(line)["path"]


def test_create_app_leaves_the_logging_setup_alone(tmp_path: Path) -> None:
    ours = logging.getLogger("recent_calls")
    before = list(ours.handlers)
    create_app(Settings(database=str(tmp_path / "x.duckdb"), log_format="text"))
    assert ours.handlers == before


@pytest.mark.parametrize("name", ["psycopg_pool", "psycopg", "uvicorn.error", "recent_calls"])
def test_in_the_json_format_every_library_writes_json(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json")
    try:
        logging.getLogger(name).warning("connection %s lost\nreconnecting", "pool-1")
    finally:
        unconfigure()
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["logger"] == name and entry["level"] == "warning"
    assert entry["message"] == "connection pool-1 lost\nreconnecting"


def test_every_line_a_real_server_writes_is_json_framing_errors_included(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "calls.duckdb")
    log_path = tmp_path / "server.log"
    with ServerProcess(database, log_path, {"RECENT_CALLS_LOG_FORMAT": "json"}) as server:
        host, port = server.url.rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            sock.recv(65536)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert any("startup" in line for line in lines)  # uvicorn's own lines are there
    for line in lines:
        assert isinstance(json.loads(line), dict), line
