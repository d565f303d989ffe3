"""Overload protection: a token bucket per credential (in memory, or shared by replicas
through Redis), the body limit, and the statement timeout that turns a runaway query into a 503.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from recent_calls.api.problems import as_problem
from recent_calls.api.ratelimit import MemoryLimiter, RedisLimiter, decide
from recent_calls.client.transport import tls_context
from recent_calls.demo import generate_calls
from recent_calls.errors import QueryTimeout, ServiceUnavailable
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.redis_server import redis_url
from tests.support import FROZEN_NOW, LiveServer, ServerFactory, add_tenant, serving

BODY = {"page": 1, "rows": 1, "duration": "allhistory"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(rate=2.0, burst=3, clock=clock)
    taken = [limiter.take_now("k") for _ in range(4)]
    assert [d.allowed for d in taken] == [True, True, True, False]
    assert [d.remaining for d in taken] == [2, 1, 0, 0]
    assert taken[3].retry_after_s == 1
    clock.now += 0.5  # one token back at 2 per second
    assert limiter.take_now("k").allowed
    assert not limiter.take_now("k").allowed
    assert limiter.take_now("other").allowed  # buckets are per key


def test_decision_headers_follow_the_ietf_draft_fields() -> None:
    refused = decide(False, 0.25, rate=0.5, burst=10)
    assert refused.headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "20",
        "Retry-After": "2",
    }
    assert "Retry-After" not in decide(True, 9.0, rate=1.0, burst=10).headers()


def test_memory_buckets_are_bounded() -> None:
    limiter = MemoryLimiter(rate=1.0, burst=1, max_keys=10)
    for index in range(100):
        limiter.take_now(f"k{index}")
    assert len(limiter._buckets) == 10


def _post(server: LiveServer, credential: object) -> httpx.Response:
    return server.post({**BODY, "tenantId": credential.tenant_id}, credential)  # type: ignore[attr-defined]


def test_a_credential_past_its_burst_gets_429_with_retry_after(
    make_server: ServerFactory,
) -> None:
    server = make_server(rate_limit_per_s=0.5, rate_limit_burst=3)
    alice, bob = server.tenant("alice"), server.tenant("bob")
    answers = [_post(server, alice) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["RateLimit-Limit"] == "3" for a in answers)
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert int(refused.headers["Retry-After"]) == 2
    assert int(refused.headers["RateLimit-Reset"]) == 6
    # Another credential has a bucket of its own.
    assert _post(server, bob).status_code == 200


def test_unauthenticated_requests_take_no_token(make_server: ServerFactory) -> None:
    server = make_server(rate_limit_per_s=0.5, rate_limit_burst=1)
    alice = server.tenant("alice")
    for _ in range(5):
        wrong = server.post(
            {**BODY, "tenantId": "alice"},
            headers={"8x8-apikey": alice.api_key, "token": "wrong"},
        )
        assert wrong.status_code == 401
        assert "RateLimit-Remaining" not in wrong.headers
    assert _post(server, alice).status_code == 200


def test_rate_limit_zero_turns_limiting_off(make_server: ServerFactory) -> None:
    server = make_server(rate_limit_per_s=0)
    alice = server.tenant("alice")
    answers = [_post(server, alice) for _ in range(30)]
    assert {a.status_code for a in answers} == {200}
    assert "RateLimit-Limit" not in answers[0].headers


def test_replicas_share_buckets_through_redis(storage: Storage, database: str) -> None:
    """Two API processes over one database spend one bucket per credential."""
    alice = add_tenant(storage, "alice", "us", [])
    settings = Settings(
        database=database,
        now=FROZEN_NOW,
        rate_limit_per_s=0.01,
        rate_limit_burst=4,
        redis_url=redis_url(),
    )
    with ExitStack() as stack:
        urls = [stack.enter_context(serving(settings, storage)) for _ in range(2)]
        clients = [
            stack.enter_context(httpx.Client(verify=tls_context(), base_url=url)) for url in urls
        ]
        headers = {"8x8-apikey": alice.api_key, "token": alice.token}
        body = {**BODY, "tenantId": "alice"}
        path = "/customerexperience/v1/recentCallData/us"
        statuses = [clients[i % 2].post(path, json=body, headers=headers) for i in range(6)]
    assert [s.status_code for s in statuses] == [200, 200, 200, 200, 429, 429]
    assert statuses[4].headers["RateLimit-Remaining"] == "0"


def test_the_redis_bucket_is_atomic_under_concurrency() -> None:
    async def burst() -> list[bool]:
        # A long timeout: this is about atomicity, not about failing open on a slow Redis.
        limiter = RedisLimiter(
            redis_url(), rate=0.001, burst=10, prefix=f"test:{secrets.token_hex(8)}:", timeout_s=10
        )
        try:
            decisions = await asyncio.gather(*(limiter.take("k") for _ in range(60)))
        finally:
            await limiter.aclose()
        return [d.allowed for d in decisions]

    assert sum(asyncio.run(burst())) == 10


def test_an_unreachable_redis_lets_requests_through(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(rate_limit_per_s=1, rate_limit_burst=1, redis_url="redis://127.0.0.1:1/0")
    alice = server.tenant("alice")
    assert [_post(server, alice).status_code for _ in range(3)] == [200, 200, 200]
    assert any("cannot reach Redis" in r.getMessage() for r in caplog.records)


def test_a_chunked_body_past_the_limit_is_413_without_reading_it_all(
    make_server: ServerFactory,
) -> None:
    server = make_server(max_body_bytes=1000)
    alice = server.tenant("alice")

    def chunks() -> Iterator[bytes]:
        yield b'{"tenantId": "alice", "x": "'
        for _ in range(1000):
            yield b"y" * 1000

    answer = server.post(
        None,
        alice,
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


RUNAWAY = {
    "duckdb": "SELECT count(*) FROM range(100000000000) t WHERE t.range % 7 = 3",
    "postgres": "SELECT pg_sleep(30)",
}


def test_a_runaway_read_is_stopped_at_the_statement_timeout(storage: Storage, engine: str) -> None:
    storage.set_statement_timeout(200)
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as stopped:
        storage._read(lambda run: run(RUNAWAY[engine], {}))
    assert time.monotonic() - started < 5
    answer = as_problem(stopped.value)
    assert isinstance(answer, ServiceUnavailable)
    assert "200 ms" in answer.detail and "SELECT" not in answer.detail
    assert answer.headers["Retry-After"] == "1"
    # The connection is usable at once, and a fast read is not affected.
    assert storage._read(lambda run: run("SELECT 42", {})) == [(42,)]
    storage.set_statement_timeout(None)
    assert storage._read(lambda run: run("SELECT 43", {})) == [(43,)]


def test_an_api_query_past_the_statement_timeout_answers_503(
    storage: Storage, make_server: ServerFactory
) -> None:
    calls = generate_calls("bigco", 50_000, seed=1, end_ms=int(FROZEN_NOW))
    alice = add_tenant(storage, "bigco", "us", list(calls))
    server = make_server(statement_timeout_ms=1, rate_limit_per_s=0)
    # The first page of 5000 takes the engine some 70-120 ms: well past 1 ms even when the
    # watchdog thread waits for a busy CPU (a past-the-end page answers in 5 ms, too soon).
    body = {
        "tenantId": "bigco",
        "page": 1,
        "rows": 5000,
        "duration": "allhistory",
        "callerName": ["a"],
        "sortColumn": "callerName",
    }
    answer = server.post(body, alice)
    assert answer.status_code == 503, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    assert "ran longer than 1 ms" in answer.json()["detail"]
    assert answer.headers["Retry-After"] == "1"
    # Requests that finish in time are still answered.
    server.storage.set_statement_timeout(30_000)
    assert server.post({**body, "page": 1, "rows": 10}, alice).status_code == 200
