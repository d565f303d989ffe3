"""Benchmark: the whole `recent-calls import` command on 1M JSON Lines, on each engine.

    python -m bench.imports                    # 1M lines, DuckDB and a fresh PostgreSQL database
    python -m bench.imports --calls 200000     # a quick look
    python -m bench.imports --engine postgres  # one engine only

The lines are demo calls, generated once into bench/data/. Each run times `recent-calls import`
as a subprocess (start-up included) into a new database, and prints calls/s. On PostgreSQL it
then, as soon as the command returns, times a 24 h page of 100 through the storage layer (the
exact count and the page, as the service runs them): the shape a new user queries first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from recent_calls.demo import generate_calls
from recent_calls.query import parse_request
from recent_calls.storage import open_storage

from .common import postgres_database

DATA = Path(__file__).parent / "data"
END_MS = 1_764_806_400_000  # 2025-12-04T00:00:00Z: every run sees the same calls
DAY = 86_400_000
TENANT = "importco01"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def data_file(calls: int) -> Path:
    """`calls` demo lines over 20 days (about 50k a day, as in the issue), written once and kept."""
    path = DATA / f"import-{calls}.jsonl"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        print(f"generating {calls} calls into {path} ...", file=sys.stderr)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for call in generate_calls(
                TENANT, calls, seed=11, end_ms=END_MS, days=20, timezone="America/New_York"
            ):
                out.write(orjson.dumps(call))
                out.write(b"\n")
        partial.rename(path)
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "recent_calls", *args]


def time_import(database: str, source: Path) -> tuple[float, float]:
    """Seconds the whole `recent-calls import` command took (the tenant made beforehand), on
    the clock and in CPU (its processes' user and system time: on a busy machine the clock
    counts other work too)."""
    subprocess.run(
        _cli("tenant", "create", TENANT, "--region", "us", "--database", database),
        check=True,
        capture_output=True,
    )
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        _cli("import", "--database", database, "--tenant", TENANT, str(source)),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr}")
    print(f"  {done.stdout.strip()}", file=sys.stderr)
    return elapsed, cpu


def time_day_page(database: str, runs: int) -> tuple[float, float]:
    """The first and the median time (ms) of a 24 h page of 100, right after the import."""
    body = {
        "tenantId": TENANT,
        "page": 1,
        "rows": 100,
        "timezone": "America/New_York",
        "timeRange": f"{END_MS - DAY}-{END_MS - 1}",
    }
    query = parse_request(body, END_MS)
    storage = open_storage(database)
    try:
        taken = []
        for _ in range(runs):
            started = time.perf_counter()
            result = storage.search(TENANT, query)
            taken.append((time.perf_counter() - started) * 1000)
        print(f"  24 h page: {result.hits} hits, {len(result.rows)} rows", file=sys.stderr)
    finally:
        storage.close()
    return taken[0], statistics.median(taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("duckdb", "postgres", "both"), default="both")
    parser.add_argument("--postgres", default=LOCAL_POSTGRES, help="server for a fresh database")
    parser.add_argument("--runs", type=int, default=20, help="timed 24 h pages")
    options = parser.parse_args()
    source = data_file(options.calls)
    engines = ("duckdb", "postgres") if options.engine == "both" else (options.engine,)
    for engine in engines:
        with contextlib.ExitStack() as stack:
            if engine == "duckdb":
                work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                database = str(work / "import.duckdb")
            else:
                name = f"recent_calls_import_bench_{os.getpid()}"
                database = stack.enter_context(postgres_database(options.postgres, name))
            print(f"{engine}: importing {options.calls} lines", file=sys.stderr)
            load = os.getloadavg()[0]
            elapsed, cpu = time_import(database, source)
            line = (
                f"{engine}: {options.calls / elapsed:,.0f} calls/s ({elapsed:.2f} s; "
                f"{cpu:.1f} s CPU in the command's processes; load {load:.1f} on "
                f"{os.cpu_count()} cores)"
            )
            if engine == "postgres":
                first, median = time_day_page(database, options.runs)
                line += f"; 24 h page right after: first {first:.1f} ms, p50 {median:.1f} ms"
            print(line)


if __name__ == "__main__":
    main()
