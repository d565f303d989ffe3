"""Benchmark: demo calls into each engine, then end-to-end HTTP latency per request shape.

    python -m bench.run                     # 1M calls in the largest tenant, DuckDB and PostgreSQL
    python -m bench.run --calls 100000      # a quick look
    python -m bench.run --engine duckdb     # the embedded engine only

PostgreSQL runs in a fresh database made on --postgres (default: the machine's server at
127.0.0.1:5432, user postgres) and dropped afterwards. Prints the import rate and a markdown table
of p50/p95 per request shape and engine, as in the README.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psycopg

from recent_calls.credentials import issue
from recent_calls.demo import generate_calls
from recent_calls.imports import import_lines
from recent_calls.storage import open_storage

from .common import percentile, postgres_database, serve, time_requests
from .dataset import END_MS

DAY = 86_400_000
BIG, SMALL = "bigco01", "smallco01"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def write_calls(path: Path, tenant: str, count: int, seed: int, days: int) -> None:
    with path.open("wb") as out:
        for call in generate_calls(
            tenant, count, seed=seed, end_ms=END_MS, days=days, timezone="America/New_York"
        ):
            out.write(orjson.dumps(call))
            out.write(b"\n")


def write_data_set(work: Path, calls: int) -> None:
    for tenant, count, seed in ((BIG, calls, 1), (SMALL, max(calls // 20, 1000), 2)):
        source = work / f"{tenant}.jsonl"
        if not source.exists():
            print(f"generating {count} calls for {tenant} ...", file=sys.stderr)
            write_calls(source, tenant, count, seed, days=365)


def load(database: str, work: Path) -> tuple[dict[str, dict[str, str]], float]:
    """Import the data set; return credentials and the import rate (calls/s) of the big file."""
    storage = open_storage(database)
    credentials = {}
    rate = 0.0
    try:
        for tenant in (BIG, SMALL):
            source = work / f"{tenant}.jsonl"
            storage.create_tenant(tenant, "us")
            started = time.perf_counter()
            with source.open("rb") as lines:
                report = import_lines(storage, tenant, lines)
            elapsed = time.perf_counter() - started
            if tenant == BIG:
                rate = report.received / elapsed
            print(f"imported {report.received} in {elapsed:.1f} s ({database.split('://')[0]})",
                  file=sys.stderr)  # fmt: skip
            credentials[tenant] = issue(storage, tenant, "us").as_json()
        started = time.perf_counter()
        storage.compact()
        print(f"compacted in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        storage.close()
    return credentials, rate


EVERY_FILTER = {
    "callerName": ["555"],
    "tenantQueues": [],
    "agentHoldCount": "range:0,-1",
    "agentMuteCount": "range:0,-1",
    "transferCount": "range:0,-1",
    "callDuration": "sec:60,-1",
    "timeInQueue": "sec:0,-1",
    "timeInIVR": "sec:5,-1",
    "agentCallDuration": "min:1,-1",
    "agentHoldDuration": "sec:0,-1",
}


def shapes(caller: str) -> dict[str, dict[str, Any]]:
    return {
        "24 h page (100 rows)": {"timeRange": f"{END_MS - DAY}-{END_MS - 1}", "rows": 100},
        "month, every filter (100 rows)": {"duration": "month", "rows": 100, **EVERY_FILTER},
        "all history, 5000 rows, page 1": {"duration": "allhistory", "rows": 5000},
        "all history, 5000 rows, page 200": {"duration": "allhistory", "rows": 5000, "page": 200},
        f"caller substring {caller!r} (100 rows)": {
            "duration": "allhistory",
            "rows": 100,
            "callerName": [caller],
        },
    }


def measure(url: str, credential: dict[str, str], body: dict[str, Any], runs: int) -> list[float]:
    payload = {"tenantId": credential["tenantId"], "page": 1, "timezone": "America/New_York"}
    timings, answer = time_requests(url, credential, {**payload, **body}, runs)
    print(f"  {answer['hits']} hits, {len(answer['data'])} rows", file=sys.stderr)
    return timings


def run_engine(
    engine: str, work: Path, postgres: str, runs: int, caller: str
) -> tuple[float, dict[str, tuple[float, float]], str]:
    """Load the data set into one engine and time every shape; return rate, timings, version."""
    with contextlib.ExitStack() as stack:
        if engine == "duckdb":
            database = str(work / "bench.duckdb")
            version = f"DuckDB {duckdb.__version__}"
        else:
            database = stack.enter_context(
                postgres_database(postgres, f"recent_calls_bench_{os.getpid()}")
            )
            with psycopg.connect(database) as conn:
                version = "PostgreSQL " + str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        credentials, rate = load(database, work)
        timings = {}
        with serve(database, END_MS - 1) as served:
            url = served.url
            for name, body in shapes(caller).items():
                print(f"{engine}: {name}", file=sys.stderr)
                taken = measure(url, credentials[BIG], body, runs)
                timings[name] = (statistics.median(taken), percentile(taken, 0.95))
    return rate, timings, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in the largest tenant")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per shape")
    parser.add_argument("--caller", default="ander", help="caller substring to search for")
    parser.add_argument("--engine", choices=["duckdb", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres",
        default=LOCAL_POSTGRES,
        help="a PostgreSQL server URL that may create databases",
    )
    args = parser.parse_args()
    engines = ["duckdb", "postgres"] if args.engine == "both" else [args.engine]

    results = {}
    with tempfile.TemporaryDirectory(prefix="recent-calls-bench-") as folder:
        work = Path(folder)
        write_data_set(work, args.calls)
        for engine in engines:
            results[engine] = run_engine(engine, work, args.postgres, args.runs, args.caller)

    print(
        f"\nData: {args.calls} calls in {BIG} + {max(args.calls // 20, 1000)} in {SMALL}, 365 days"
    )
    versions = ", ".join(version for _, _, version in results.values())
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {versions}\n"
    )
    for engine, (rate, _, _) in results.items():
        print(f"Import into {engine} (library import_lines, JSON Lines file): {rate:,.0f} calls/s")
    header = " | ".join(f"{engine} p50 ms | {engine} p95 ms" for engine in results)
    print(f"\n| request shape | {header} |")
    print("|---|" + "---:|---:|" * len(results))
    for name in shapes(args.caller):
        cells = " | ".join(
            f"{timings[name][0]:.1f} | {timings[name][1]:.1f}" for _, timings, _ in results.values()
        )
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
