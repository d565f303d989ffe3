"""The fixed cost of a request: the server's own CPU per request, beside its latency.

    .venv/bin/python -m bench.request_cost --database recent-calls.duckdb --tenant acmecorp01
    .venv/bin/python -m bench.request_cost --database postgresql://.../db --tenant t --requests 5000

Starts `recent-calls serve` (one process) on an existing database and sends sequential requests
from this process: /healthz, a query that matches nothing, and a page of the tenant's last day
(24 h before --now, 100 rows). For each, the p50 as the client sees it and the server's CPU per
request (user + system time of the server process from /proc, over all the requests, divided by
their number): what a query costs beyond the engine's own work, which caps requests per second.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import httpx

from recent_calls.storage import open_storage

from .common import PATH, bench_credential, cpu_ticks, percentile, serve
from .dataset import END_MS

DAY = 86_400_000


def server_cpu_s(pid: int) -> float:
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def measure(
    http: httpx.Client, pid: int, path: str, body: dict[str, Any] | None, requests: int
) -> tuple[float, float]:
    """(p50 ms, server CPU ms per request) of `requests` sequential requests after 50 more."""

    def send() -> None:
        answer = http.get(path) if body is None else http.post(path, json=body)
        answer.raise_for_status()

    for _ in range(50):
        send()
    timings = []
    before = server_cpu_s(pid)
    for _ in range(requests):
        started = time.perf_counter()
        send()
        timings.append((time.perf_counter() - started) * 1000)
    used = server_cpu_s(pid) - before
    return percentile(timings, 0.5), used * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--now", type=int, default=END_MS - 1, help="the server's clock, ms")
    parser.add_argument("--timezone", default="America/New_York")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    storage = open_storage(args.database)
    try:
        tenant = storage.get_tenant(args.tenant)
        if tenant is None:
            parser.error(f"no tenant {args.tenant!r} in {args.database}")
        credential = bench_credential(storage, tenant.tenant_id, tenant.region)
    finally:
        storage.close()
    data = PATH.format(region=credential["region"])
    base = {"tenantId": args.tenant, "page": 1, "timezone": args.timezone}
    shapes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("/healthz", "/healthz", None),
        ("a query that matches nothing", data,
         {**base, "duration": "allhistory", "rows": 100, "callerName": ["no such caller"]}),
        ("24 h page of 100", data,
         {**base, "timeRange": f"{args.now - DAY + 1}-{args.now}", "rows": 100}),
    ]  # fmt: skip
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    with serve(args.database, args.now) as served:
        pid = served.process.pid
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as http:
            print("| request | p50 ms | server CPU ms per request |")
            print("|---|---:|---:|")
            for name, path, body in shapes:
                p50, cpu = measure(http, pid, path, body, args.requests)
                print(f"| {name} | {p50:.2f} | {cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main()
