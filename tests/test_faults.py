"""Fault injection: shares of API requests answered 429 or 503, or delayed; off by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.launch import wait_healthy
from recent_calls.api.app import create_app
from recent_calls.api.faults import FaultInjector, FaultPlan, parse_delay
from recent_calls.cli.serve import banner
from recent_calls.settings import Settings
from tests.support import FROZEN_NOW, ServerFactory

BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


def test_faults_are_off_by_default() -> None:
    app = create_app(Settings(database=":memory:"))
    assert not any(m.cls is FaultInjector for m in app.user_middleware)
    assert not FaultPlan.from_settings(Settings()).active
    assert FaultPlan().describe() == ""


def test_faults_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECENT_CALLS_FAULT_RATE_503", "0.25")
    plan = FaultPlan.from_settings(Settings())
    assert plan.active and plan.rate_503 == 0.25


def test_a_share_of_requests_answers_429_or_503_as_problem_documents(
    make_server: ServerFactory,
) -> None:
    server = make_server(fault_rate_429=0.3, fault_rate_503=0.2, fault_seed=11)
    credential = server.tenant("acme")
    statuses = [server.post(BODY, credential).status_code for _ in range(200)]
    assert set(statuses) == {200, 429, 503}
    assert 40 <= statuses.count(429) <= 80 and 20 <= statuses.count(503) <= 60
    limited = next(
        r for r in (server.post(BODY, credential) for _ in range(50)) if r.status_code == 429
    )
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["status"] == 429 and "Injected fault" in limited.json()["detail"]


def test_health_and_admin_paths_are_never_faulted(make_server: ServerFactory) -> None:
    server = make_server(fault_rate_503=1.0)
    assert all(server.http.get("/healthz").status_code == 200 for _ in range(5))
    assert server.post(BODY).status_code == 503


def test_a_share_of_requests_is_delayed(make_server: ServerFactory) -> None:
    server = make_server(fault_delay_ms=150, fault_delay_rate=0.5, fault_seed=2)
    credential = server.tenant("acme")
    elapsed = []
    for _ in range(12):
        started = time.monotonic()
        assert server.post(BODY, credential).status_code == 200
        elapsed.append(time.monotonic() - started)
    slow = [t for t in elapsed if t >= 0.15]
    assert 2 <= len(slow) <= 10


def test_parse_delay_reads_ms_and_an_optional_rate() -> None:
    assert parse_delay("250") == (250, 1.0)
    assert parse_delay("250:0.1") == (250, 0.1)
    for bad in ("fast", "10:2", "-1"):
        with pytest.raises(ValueError):
            parse_delay(bad)


def test_the_banner_says_which_faults_are_on() -> None:
    plan = FaultPlan(rate_429=0.2, rate_503=0.05, delay_ms=300, delay_rate=0.1, seed=4)
    line = plan.describe()
    assert line == (
        "Fault injection ON: 429 on 20% (Retry-After 1 s), 503 on 5%, 300 ms delay on 10% "
        "of API requests, seed 4"
    )
    assert line in banner("http://x", "db", [], line).splitlines()
    assert "Fault" not in banner("http://x", "db", [], FaultPlan().describe())


def test_serve_options_turn_faults_on(duckdb_path: str) -> None:
    env = {**os.environ, "RECENT_CALLS_NOW": FROZEN_NOW}
    command = [sys.executable, "-m", "recent_calls", "serve", "--port", "0", "--database"]
    options = ["--fault-429", "0.1", "--fault-503", "0.02", "--fault-delay", "50:0.5"]
    process = subprocess.Popen(
        [*command, duckdb_path, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline().rstrip("\n") for _ in range(4)]
        url = lines[1].split()[-1]
        wait_healthy(url)  # SIGINT before uvicorn handles signals would be lost
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert lines[3] == (
        "Fault injection ON: 429 on 10% (Retry-After 1 s), 503 on 2%, 50 ms delay on 50% "
        "of API requests"
    )
