"""`recent-calls serve` as a process: how it stops."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from bench import launch
from recent_calls.admin.control import control_path
from recent_calls.settings import Settings
from tests.support import LiveServer, ServerFactory, ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_removes_the_control_file_and_closes_storage(
    tmp_path: Path, sig: signal.Signals
) -> None:
    database = str(tmp_path / "calls.duckdb")
    log = tmp_path / "server.log"
    args = ["--demo", "--demo-calls", "50"]
    server = launch.ServerProcess(
        database, log, {"RECENT_CALLS_NOW": "1764547200000"}, args
    ).start()
    assert server.process is not None
    try:
        assert control_path(database).exists()
        server.process.send_signal(sig)
        code = server.process.wait(timeout=30)
    finally:
        server.stop()
    assert code == 0, log.read_text()[-2000:]
    assert not control_path(database).exists()
    # A closed DuckDB checkpoints its write-ahead log into the file and removes it.
    assert not Path(f"{database}.wal").exists()
    assert "Traceback" not in log.read_text()


def test_the_signal_ends_the_process_promptly(tmp_path: Path) -> None:
    database = str(tmp_path / "calls.duckdb")
    with ServerProcess(database, tmp_path / "server.log") as server:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM did not stop the server within 15 s")


def _actor_after_creating_a_credential(server: LiveServer, forwarded: str) -> str:
    server.tenant("acme")
    admin = {"Authorization": "Bearer admin-token-for-tests"}
    made = server.http.post(
        "/admin/v1/tenants/acme/credentials",
        json={},
        headers={**admin, "X-Forwarded-For": forwarded},
    )
    assert made.status_code == 201, made.text
    actor: str = server.http.get("/admin/v1/audit", headers=admin).json()[0]["actor"]
    return actor


def test_x_forwarded_for_is_ignored_from_a_peer_not_configured_as_a_proxy(
    make_server: ServerFactory,
) -> None:
    server = make_server(admin_token="admin-token-for-tests")
    assert _actor_after_creating_a_credential(server, "203.0.113.9") == "admin-api@127.0.0.1"


def test_x_forwarded_for_is_used_from_a_configured_proxy(make_server: ServerFactory) -> None:
    server = make_server(admin_token="admin-token-for-tests", trusted_proxies=["127.0.0.1"])
    assert _actor_after_creating_a_credential(server, "203.0.113.9") == "admin-api@203.0.113.9"


def test_trusted_proxies_read_from_the_environment_as_a_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECENT_CALLS_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
    assert Settings().trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    monkeypatch.setenv("RECENT_CALLS_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []
