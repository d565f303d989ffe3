"""Rate limiting: a token bucket per credential, kept in this process or shared through Redis.

Each credential may make `burst` requests at once and `rate` requests per second after that.
One server process (the embedded DuckDB engine) keeps its buckets in memory. API replicas over
one PostgreSQL database share theirs through Redis: one Lua script reads, refills and takes a
token atomically on the Redis server, with the Redis server's clock, so replicas with skewed
clocks agree and no read-modify-write race lets two replicas spend the same token. Redis was
chosen over a table in PostgreSQL because a bucket is written on every request: in the database
that would be a row update (WAL, vacuum, row locks on a hot row) inside the request path of the
very database the limit protects.

When Redis cannot be reached the limiter lets requests through and logs a warning: the limit
protects capacity, and an outage of the limiter should not become an outage of the API.

Every answer to an authenticated API request carries the IETF draft fields `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset`; a 429 adds `Retry-After`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from recent_calls.circuit import Breaker
from recent_calls.errors import RateLimited
from recent_calls.settings import Settings
from recent_calls.storage.base import Credential

log = logging.getLogger("recent_calls.api.ratelimit")

STATE_KEY = "rate_limit"


@dataclass(frozen=True)
class Decision:
    """The outcome of taking one token from a bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        """The IETF draft RateLimit-* fields (and Retry-After when refused)."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            fields["Retry-After"] = str(self.retry_after_s)
        return fields


def decide(allowed: bool, tokens: float, rate: float, burst: int) -> Decision:
    """A Decision from the tokens left in a bucket after a take (or a refused take)."""
    tokens = max(0.0, min(float(burst), tokens))
    return Decision(
        allowed=allowed,
        limit=burst,
        remaining=math.floor(tokens),
        reset_s=math.ceil((burst - tokens) / rate),
        retry_after_s=0 if allowed else max(1, math.ceil((1 - tokens) / rate)),
    )


class Limiter(Protocol):
    rate: float
    burst: int

    async def take(self, key: str) -> Decision: ...
    async def aclose(self) -> None: ...


class MemoryLimiter:
    """Buckets in this process; the least recently used are dropped past `max_keys`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take_now(self, key: str) -> Decision:
        with self._lock:
            now = self.clock()
            tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - stamp) * self.rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[key] = (tokens, now)
            # A dropped bucket comes back full, so dropping only ever errs on the side of letting
            # a request through.
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return decide(allowed, tokens, self.rate, self.burst)

    async def take(self, key: str) -> Decision:
        return self.take_now(key)

    async def aclose(self) -> None:
        return None


# KEYS[1]: the bucket; ARGV: rate per second, burst. Answers {allowed, tokens left as text}
# (a Lua number would be truncated to an integer on its way out).
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every replica that uses the same Redis and prefix."""

    def __init__(
        self,
        url: str,
        rate: float,
        burst: int,
        *,
        prefix: str = "recent-calls:ratelimit:",
        timeout_s: float = 0.5,
        breaker_open_s: float = 5.0,
    ) -> None:
        import redis.asyncio as aioredis

        self.rate, self.burst, self.prefix = rate, burst, prefix
        # Short: a slow limiter must not slow every request (past it, requests go through).
        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script: Any = self._client.register_script(BUCKET_SCRIPT)
        self._warned_at = -math.inf
        # A hung Redis costs each request the whole timeout: once it is known to be down,
        # requests go through without asking it, and one probe a period finds it back.
        self.breaker = Breaker("Redis (rate limits)", open_s=breaker_open_s)

    async def take(self, key: str) -> Decision:
        from redis.exceptions import RedisError

        if not self.breaker.allow():
            return decide(True, float(self.burst), self.rate, self.burst)
        try:
            allowed, tokens = await self._script(
                keys=[self.prefix + key], args=[repr(self.rate), self.burst]
            )
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("rate limiter cannot reach Redis (%s); letting requests through", exc)
            self.breaker.failed()
            return decide(True, float(self.burst), self.rate, self.burst)
        self.breaker.succeeded()
        return decide(bool(allowed), float(tokens), self.rate, self.burst)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_limiter(settings: Settings) -> Limiter | None:
    """The limiter the settings ask for; None when rate limiting is off."""
    if settings.rate_limit_per_s <= 0:
        return None
    burst = max(1, settings.rate_limit_burst)
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, settings.rate_limit_per_s, burst)
    if settings.database.startswith(("postgresql://", "postgres://")):
        log.warning(
            "rate limits are kept per process: set RECENT_CALLS_REDIS_URL to share them "
            "between API replicas"
        )
    return MemoryLimiter(settings.rate_limit_per_s, burst)


async def enforce(request: Request, limiter: Limiter | None, credential: Credential) -> None:
    """Take a token from the credential's bucket, or answer 429; the request pipeline
    (api/pipeline.py) puts the decision's fields on the answer."""
    if limiter is None:
        return
    decision = await limiter.take(credential.key_hash)
    request.scope.setdefault("state", {})[STATE_KEY] = decision
    if not decision.allowed:
        error = RateLimited(
            f"This credential may make {limiter.burst} requests at once and "
            f"{limiter.rate:g} per second after that; retry after "
            f"{decision.retry_after_s} s.",
            decision.retry_after_s,
        )
        error.headers.update(decision.headers())
        raise error
