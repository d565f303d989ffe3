"""circuit.py: a dependency known to be down fails at once; one probe finds it back.

On PostgreSQL with its pool exhausted, and with a hung Redis (a real redis-server, stopped with
SIGSTOP), requests stop paying the full timeout once the circuit is open, and /readyz says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from recent_calls.api.app import create_app
from recent_calls.api.ratelimit import RedisLimiter
from recent_calls.circuit import CLOSED, HALF_OPEN, OPEN, Breaker
from recent_calls.settings import Settings
from recent_calls.storage.postgres_store import PostgresStorage
from tests.pg import fresh_database, migrated_template
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant, free_port


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_opens_after_failures_in_a_row_and_one_probe_closes_it() -> None:
    clock = Clock()
    breaker = Breaker("db", failures=2, open_s=5, clock=clock)
    breaker.failed()
    breaker.succeeded()  # a success between failures: not in a row
    breaker.failed()
    assert breaker.allow() and breaker.state == CLOSED
    breaker.failed()
    assert breaker.state == OPEN and not breaker.allow()
    assert breaker.retry_after() == 5
    clock.now += 5
    assert breaker.allow() and breaker.state == HALF_OPEN  # the probe
    assert not breaker.allow()  # only one
    breaker.failed()  # the probe failed: open again at once
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.allow() and breaker.retry_after() == 0


def test_a_probe_that_never_reports_blocks_for_one_period_only() -> None:
    clock = Clock()
    breaker = Breaker("db", failures=1, open_s=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()  # a probe whose caller dies before it reports
    clock.now += 5
    assert breaker.allow()


DATA = "/customerexperience/v1/recentCallData/us"
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


def test_with_the_pool_exhausted_requests_fail_at_once_and_readyz_says_so_postgres() -> None:
    with fresh_database(template=migrated_template()) as url:
        storage = PostgresStorage(url, max_size=1, timeout=0.5, breaker_open_s=1.0)
        credential = add_tenant(storage, "acme", "us", [])
        headers = {"8x8-apikey": credential.api_key, "token": credential.token}
        app = create_app(Settings(database=url, now=FROZEN_NOW), storage=storage)
        http = InProcessHTTP(app)
        held = storage._pool.getconn()  # the pool's only connection: every request must wait
        try:
            took = []
            for _ in range(6):
                started = time.monotonic()
                answer = http.post(DATA, json=BODY, headers=headers)
                took.append(time.monotonic() - started)
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"]
            assert min(took[:3]) >= 0.5  # the pool's timeout, until the circuit opens
            assert max(took[3:]) < 0.2, took  # then at once
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert "circuit open" in ready.json()["detail"]
        finally:
            storage._pool.putconn(held)
        time.sleep(1.0)  # the circuit's open period: then one probe goes through
        assert http.post(DATA, json=BODY, headers=headers).status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["circuits"] == {"database": "closed"}
        http.close()
        storage.close()


@pytest.fixture
def hung_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own on a free port, which the test may stop (SIGSTOP)."""
    binary = shutil.which("redis-server")
    assert binary, "the tests need redis-server (apt-get install redis-server)"
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield url, server
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(10)


def test_a_hung_redis_costs_its_timeout_only_until_the_circuit_opens(
    hung_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, server = hung_redis

    async def scenario() -> list[float]:
        limiter = RedisLimiter(url, rate=100.0, burst=10, timeout_s=0.3, breaker_open_s=1.0)
        try:
            assert (await limiter.take("k")).allowed
            os.kill(server.pid, signal.SIGSTOP)  # hung: connected, never answers
            took = []
            for _ in range(6):
                started = time.monotonic()
                decision = await limiter.take("k")
                took.append(time.monotonic() - started)
                assert decision.allowed  # a limiter it cannot reach lets requests through
            assert limiter.breaker.state == "open"
            os.kill(server.pid, signal.SIGCONT)
            await asyncio.sleep(1.0)
            assert (await limiter.take("k")).allowed
            assert limiter.breaker.state == "closed"
            return took
        finally:
            os.kill(server.pid, signal.SIGCONT)
            await limiter.aclose()

    took = asyncio.run(scenario())
    assert min(took[:3]) >= 0.3  # the socket timeout, until the circuit opens
    assert max(took[3:]) < 0.05, took  # then at once
