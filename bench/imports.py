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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from recent_calls.demo import generate_calls
from recent_calls.query.request import parse_request
from recent_calls.storage import open_storage

from .common import cpu_ticks, descendants, postgres_cpu_s, postgres_database

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


def cli(*args: str) -> list[str]:
    """The `recent-calls` command line with `args`, run by this Python."""
    return [sys.executable, "-m", "recent_calls", *args]


def create_tenant(database: str, tenant: str, region: str = "us") -> dict[str, str]:
    """`recent-calls tenant create`; its first credential (tenantId, region, apiKey, token)."""
    done = subprocess.run(
        cli("tenant", "create", tenant, "--region", region, "--database", database, "--json"),
        check=True,
        capture_output=True,
    )
    credential: dict[str, str] = orjson.loads(done.stdout)
    return credential


# Runs the import command with Storage.after_import a no-op: the state before it existed.
_WITHOUT_AFTER_IMPORT = (
    "import sys; from recent_calls.storage.base import Storage; "
    "from recent_calls.storage.postgres_store import PostgresStorage; "
    "PostgresStorage.after_import = Storage.after_import; "
    "from recent_calls.cli.main import main; sys.exit(main())"
)


@dataclass
class Timed:
    seconds: float  # on the clock, from start to exit
    cpu_s: float  # user and system time of the command and every process under it
    summary: str  # the command's last line: calls imported, new, replaced, invalid


def time_import(
    database: str,
    source: Path,
    *,
    tenant: str = TENANT,
    after_import: bool = True,
    extra: tuple[str, ...] = (),
) -> Timed:
    """The whole `recent-calls import` command of `source` into `tenant` (made beforehand), on
    the clock and in CPU, sampled from /proc (on a busy machine the clock counts other work
    too). Its output goes to files, so that any number of reported bad lines cannot block it."""
    command = cli("import", "--database", database, "--tenant", tenant, *extra, str(source))
    if not after_import:
        command[1:3] = ["-c", _WITHOUT_AFTER_IMPORT]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        ticks: dict[int, int] = {}
        while True:
            for pid in (process.pid, *descendants(process.pid)):
                ticks[pid] = max(ticks.get(pid, 0), cpu_ticks(pid))
            try:
                process.wait(timeout=0.1)  # returns as soon as the command ends
                break
            except subprocess.TimeoutExpired:
                continue
        elapsed = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read().decode(), stderr.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"import failed: {errors[-2000:]}")
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    print(f"  {summary}", file=sys.stderr)
    return Timed(elapsed, sum(ticks.values()) / os.sysconf("SC_CLK_TCK"), summary)


def time_day_page(database: str, runs: int) -> tuple[float, float, str]:
    """The first and the median time (ms) of a 24 h page of 100, right after the import, and
    how PostgreSQL counted its hits (the plan's scan, heap fetches and buffers: these do not
    depend on how busy the machine is)."""
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
        tenant = storage.get_tenant(TENANT)
        assert tenant is not None
        where = storage._where(tenant, query)
        explain = (
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM calls WHERE {where.sql}"
        )
        plan = storage._read(lambda run: run(explain, where.params))[0][0][0]["Plan"]
        taken = []
        for _ in range(runs):
            started = time.perf_counter()
            result = storage.search(tenant, query)
            taken.append((time.perf_counter() - started) * 1000)
        print(f"  24 h page: {result.hits} hits, {len(result.rows)} rows", file=sys.stderr)
    finally:
        storage.close()
    return taken[0], statistics.median(taken), _describe(plan)


def _describe(plan: dict[str, Any]) -> str:
    """The scans of a plan, with their heap fetches and buffers."""
    found = []
    todo = [plan]
    while todo:
        node = todo.pop()
        todo.extend(node.get("Plans", []))
        if "Scan" in node["Node Type"]:
            buffers = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
            fetches = node.get("Heap Fetches")
            text = f"{node['Node Type']} ({buffers} buffers"
            found.append(text + (f", {fetches} heap fetches)" if fetches is not None else ")"))
    return "; ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("duckdb", "postgres", "both"), default="both")
    parser.add_argument("--postgres", default=LOCAL_POSTGRES, help="server for a fresh database")
    parser.add_argument("--runs", type=int, default=20, help="timed 24 h pages")
    parser.add_argument(
        "--without-after-import",
        action="store_true",
        help="PostgreSQL as before Storage.after_import: no VACUUM ANALYZE after the import",
    )
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
            create_tenant(database, TENANT)
            load = os.getloadavg()[0]
            server_before = postgres_cpu_s() if engine == "postgres" else None
            timed = time_import(database, source, after_import=not options.without_after_import)
            server_after = postgres_cpu_s() if server_before is not None else None
            server = (
                ""
                if server_before is None or server_after is None
                else f"; {server_after - server_before:.1f} s CPU in PostgreSQL's processes"
            )
            line = (
                f"{engine}: {options.calls / timed.seconds:,.0f} calls/s ({timed.seconds:.2f} s; "
                f"{timed.cpu_s:.1f} s CPU in the command's processes{server}; load {load:.1f} "
                f"on {os.cpu_count()} cores)"
            )
            if engine == "postgres":
                first, median, plan = time_day_page(database, options.runs)
                line += f"; 24 h page right after: first {first:.1f} ms, p50 {median:.1f} ms"
                line += f"; its count: {plan}"
            print(line)


if __name__ == "__main__":
    main()
