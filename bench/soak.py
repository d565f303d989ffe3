"""Soak: mixed reads and writes at concurrency 32 against a real server process it starts.

    python -m bench.soak                      # 60 s on the embedded engine
    python -m bench.soak --seconds 10         # a short run
    python -m bench.soak --database postgresql://postgres@127.0.0.1:5432/soak

Reports requests, errors (anything but a 2xx; must be 0), p50/p99 latency and the growth of
the server's resident memory from the end of warm-up to the end of the run (must stay under
50 MB). Exits 1 when either bound is broken. `ServerProcess` is
`bench.launch.ServerProcess` with this clock.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import launch
from recent_calls.admin.credentials import IssuedCredential, issue
from recent_calls.demo import generate_calls
from recent_calls.ingest.bulk import import_lines
from recent_calls.storage import open_storage

from .common import tree_rss_mb

NOW_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z: fixed, so every run sees the same data
MAX_ERRORS = 0
MAX_RSS_GROWTH_MB = 50.0


class ServerProcess(launch.ServerProcess):
    """`recent-calls serve` in its own process, clock frozen at NOW_MS; stderr goes to a file."""

    def __init__(self, database: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(database, log_path, {"RECENT_CALLS_NOW": str(NOW_MS), **(env or {})})


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    writes: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def prepare(database: str, tenants: int, calls: int) -> list[IssuedCredential]:
    storage = open_storage(database)
    try:
        issued = []
        for index in range(tenants):
            tenant_id = f"soak{index:02d}"
            storage.create_tenant(tenant_id, "us")
            generated = generate_calls(tenant_id, calls, seed=index, end_ms=NOW_MS)
            import_lines(storage, tenant_id, generated)
            issued.append(issue(storage, tenant_id, "us", "soak"))
        return issued
    finally:
        storage.close()


READS: list[dict[str, Any]] = [
    {"duration": "allhistory"},
    {"duration": "month", "timezone": "America/New_York"},
    {"duration": "allhistory", "callerName": ["an"], "rows": 100},
    {"duration": "allhistory", "sortColumn": "callDuration", "page": 7},
    {"duration": "week", "transferCount": "range:1,-1"},
    {"duration": "allhistory", "callDuration": "sec:30,600", "page": 3},
]


async def worker(
    http: httpx.AsyncClient, credentials: list[IssuedCredential], until: float, tally: Tally, n: int
) -> None:
    chance = random.Random(n)
    while time.monotonic() < until:
        credential = chance.choice(credentials)
        headers = {"8x8-apikey": credential.api_key, "token": credential.token}
        if chance.random() < 0.2:
            calls = [
                {
                    "callId": f"w{n}-{tally.writes}-{i}",
                    "startTime": NOW_MS - chance.randrange(86_400_000),
                    "callerName": "Soak Writer",
                    "callDuration": chance.randrange(1_000_000),
                }
                for i in range(chance.choice((1, 10, 100)))
            ]
            path = "/customerexperience/v1/calls/us"
            body: dict[str, Any] = {"tenantId": credential.tenant_id, "calls": calls}
            tally.writes += 1
        else:
            path = "/customerexperience/v1/recentCallData/us"
            body = {"tenantId": credential.tenant_id, "page": 1, "rows": 50}
            body.update(chance.choice(READS))
        started = time.perf_counter()
        try:
            answer = await http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.error(type(exc).__name__)
            continue
        tally.latencies.append(time.perf_counter() - started)
        if not 200 <= answer.status_code < 300:
            tally.error(str(answer.status_code))


async def drive(
    url: str, credentials: list[IssuedCredential], seconds: float, concurrency: int, tally: Tally
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(worker(http, credentials, until, tally, n) for n in range(concurrency))
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def soak(
    database: str, seconds: float, concurrency: int, tenants: int, calls: int
) -> dict[str, Any]:
    credentials = prepare(database, tenants, calls)
    with tempfile.TemporaryDirectory() as scratch:
        # The soak measures the server, not the limiter: lift the limit for its credentials.
        env = {"RECENT_CALLS_RATE_LIMIT_PER_S": "0"}
        with ServerProcess(database, Path(scratch) / "server.log", env) as server:
            warm = Tally()
            asyncio.run(drive(server.url, credentials, min(10.0, seconds / 4), concurrency, warm))
            rss_start = tree_rss_mb(server.pid)
            tally = Tally()
            started = time.monotonic()
            asyncio.run(drive(server.url, credentials, seconds, concurrency, tally))
            elapsed = time.monotonic() - started
            rss_end = tree_rss_mb(server.pid)
    errors = sum(tally.errors.values()) + sum(warm.errors.values())
    return {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "requests": len(tally.latencies),
        "writes": tally.writes,
        "errors": errors,
        "errorKinds": {**warm.errors, **tally.errors},
        "p50Ms": round(percentile(tally.latencies, 0.50) * 1000, 1),
        "p99Ms": round(percentile(tally.latencies, 0.99) * 1000, 1),
        "rssStartMb": round(rss_start, 1),
        "rssEndMb": round(rss_end, 1),
        "rssGrowthMb": round(rss_end - rss_start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--calls", type=int, default=20_000, help="Calls per tenant to start.")
    parser.add_argument("--database", help="A postgresql:// URL of an empty database.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = args.database or str(Path(scratch) / "soak.duckdb")
        report = soak(database, args.seconds, args.concurrency, args.tenants, args.calls)
    for key, value in report.items():
        print(f"{key}: {value}")
    ok = report["errors"] <= MAX_ERRORS and report["rssGrowthMb"] < MAX_RSS_GROWTH_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
