"""The performance suite: the service beside its raw engine and beside datasette, in one run.

    bench/perf                           # 10M calls, 100 tenants, 2 years; both engines
    bench/perf --calls 1000000 --engines duckdb   # a quicker look

(bench/perf installs wrk and datasette's own venv, then runs this module.)

The data set is built once and kept under bench/data/ (DuckDB file, SQLite copy for datasette,
a PostgreSQL database loaded from the DuckDB file). Each request shape is timed end to end over
HTTP on loopback and as the raw engine query in this process (the very statements the storage
layer issues for it, captured and replayed on a plain connection); load comes from wrk in its own
process. Results go to docs/performance-at-scale.md (and stdout); the report of every target
of the performance issue, on the 1M-call data set, is bench/run.py's docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import httpx
import orjson
import psycopg

import recent_calls
from recent_calls.demo import generate_calls
from recent_calls.query.request import parse_request
from recent_calls.storage import open_storage
from recent_calls.storage.base import Rows, Run, Storage
from recent_calls.storage.base import Tenant as Bound
from recent_calls.storage.postgres_store import configure_connection as configure_postgres

from . import datasette_side
from .common import (
    LATENCY_TARGET,
    MAX_HITS_MS,
    MIN_IMPORT_PER_S,
    PATH,
    SERVICE_TIMING,
    TAKING_TURNS,
    bench_credential,
    latency_verdict,
    percentile,
    postgres_database,
    serve,
    time_requests,
    time_side_by_side,
)
from .dataset import DATA, END_MS, DataSet, Tenant, build_duckdb, build_postgres, log
from .loadgen import Load, json_body, run_wrk, wrk_binary

DAY = 86_400_000
NOW = END_MS - 1
ROOT = Path(__file__).resolve().parents[1]
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = DATA / "perf-results.json"  # the last run's measurements, for --report-only

# The reference guide's "Full Request Example", as printed there (only tenantId is ours).
REFERENCE_EXAMPLE: dict[str, Any] = {
    "page": 1,
    "rows": "500",
    "duration": "allhistory",
    "timezone": "America/Los_Angeles",
    "callerName": ["555"],
    "tenantAgents": ["ag7rcjEueDRuGblqngmiaaa", "agAD21EBR1RhuV2TNDivjzzz"],
    "tenantQueues": ["2583", "1196", "713"],
    "tenantGroups": ["2577", "712"],
    "agentHoldCount": "range:2,-1",
    "agentMuteCount": "range:1,1",
    "transferCount": "range:0,-1",
    "callDuration": "sec:60,-1",
    "timeInQueue": "sec:0,-1",
    "timeInIVR": "sec:15,-1",
    "agentCallDuration": "min:5,-1",
    "agentHoldDuration": "sec:30,-1",
}


@dataclass
class Shape:
    name: str
    tenant: Tenant
    body: dict[str, Any]

    def request(self) -> dict[str, Any]:
        return {"tenantId": self.tenant.tenant_id, "page": 1, **self.body}


# A tenant's `count` most used values of a list column (agent_ids, queue_ids, agent_groups), most
# used first, ties by value: filters that select something. Given a tenant id, column and count.
CommonValues = Callable[[str, str, int], list[str]]


def common_values(database: Path, tenant_id: str, column: str, count: int) -> list[str]:
    """`CommonValues` read from a DuckDB file (bind the file with functools.partial)."""
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(
            f"SELECT v FROM (SELECT unnest({column}) AS v FROM calls WHERE tenant_id = $t) "
            "GROUP BY v ORDER BY count(*) DESC, v LIMIT $n",
            {"t": tenant_id, "n": count},
        ).fetchall()
    return [row[0] for row in rows]


def every_filter(tenant: Tenant, common: CommonValues) -> dict[str, Any]:
    return {
        "timezone": tenant.timezone,
        "callerName": ["55"],
        "tenantAgents": common(tenant.tenant_id, "agent_ids", 20),
        "tenantQueues": common(tenant.tenant_id, "queue_ids", 3),
        "tenantGroups": common(tenant.tenant_id, "agent_groups", 3),
        "agentHoldCount": "range:0,-1",
        "agentMuteCount": "range:0,-1",
        "transferCount": "range:0,-1",
        "callDuration": "sec:30,-1",
        "timeInQueue": "sec:0,-1",
        "timeInIVR": "sec:1,-1",
        "agentCallDuration": "sec:10,-1",
        "agentHoldDuration": "sec:0,-1",
    }


DAY_PAGE = "24 h page of 100"
ALL_HISTORY = "all history, 5000 rows, page 1"


def shapes(big: Tenant, small: Tenant, common: CommonValues) -> list[Shape]:
    """The request shapes, on the largest tenant `big` and on `small`."""
    zone = {"timezone": big.timezone}
    return [
        Shape(DAY_PAGE, big, {"timeRange": f"{END_MS - DAY}-{NOW}", "rows": 100, **zone}),
        Shape("month, every filter", big, {"duration": "month", "rows": 100,
                                          **every_filter(big, common)}),
        Shape(ALL_HISTORY, big,
              {"duration": "allhistory", "rows": 5000, **zone}),
        Shape("all history, 5000 rows, page 200", big,
              {"duration": "allhistory", "rows": 5000, "page": 200, **zone}),
        Shape("caller substring, largest tenant", big,
              {"duration": "allhistory", "rows": 100, "callerName": ["ander"], **zone}),
        Shape("small tenant, every filter", small, {"duration": "allhistory", "rows": 100,
                                                    **every_filter(small, common)}),
        Shape("reference's full example", big, dict(REFERENCE_EXAMPLE)),
    ]  # fmt: skip


# -- raw engine ----------------------------------------------------------------------------------

Statement = tuple[str, dict[str, Any]]


def captured(storage: Storage, shape: Shape) -> list[Statement]:
    """The statements the storage layer issues for `shape`, with their parameters, as on any
    request but a process's first (which also looks up once what the schema has)."""
    query = parse_request(shape.request(), NOW)
    tenant = Bound(shape.tenant.tenant_id, shape.tenant.region, 0)
    storage.search(tenant, query)
    with storage.trace() as seen:
        storage.search(tenant, query)
    return seen


def captured_hits(storage: Storage, shape: Shape) -> list[Statement]:
    """The statements that count `shape`'s exact hits (the storage's `_hits`), as `captured`."""
    query = parse_request(shape.request(), NOW)
    where = storage._where(Bound(shape.tenant.tenant_id, shape.tenant.region, 0), query)

    def count(run: Run) -> int:
        return storage._hits(run, where, query)

    storage._read(count)
    with storage.trace() as seen:
        storage._read(count)
    return seen


def captured_statements(
    database: str, all_shapes: list[Shape]
) -> tuple[dict[str, list[Statement]], list[Statement]]:
    """The statements the storage layer issues for each shape, and those that count the exact
    hits of the big tenant's whole history."""
    whole = next(shape for shape in all_shapes if shape.name == ALL_HISTORY)
    storage = open_storage(database)
    try:
        statements = {shape.name: captured(storage, shape) for shape in all_shapes}
        return statements, captured_hits(storage, whole)
    finally:
        storage.close()


_DUCKDB_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@contextmanager
def raw_runner(engine: str, database: str) -> Iterator[Run]:
    """A plain connection to the engine, running statements as they were captured."""
    if engine == "duckdb":
        with duckdb.connect(database, read_only=True) as duck:
            cursor = duck.cursor()

            def run_duckdb(sql: str, params: dict[str, Any]) -> Rows:
                used = {name: params[name] for name in _DUCKDB_PARAM.findall(sql)}
                return cursor.execute(sql, used).fetchall()

            yield run_duckdb
    else:
        with psycopg.connect(database, autocommit=True) as server:
            configure_postgres(server)  # the session settings the service's connections have

            def run_postgres(sql: str, params: dict[str, Any]) -> Rows:
                found = server.execute(sql, params or None)
                return found.fetchall() if found.description is not None else []

            yield run_postgres


@contextmanager
def raw_database(engine: str, database: str) -> Iterator[str]:
    """What the raw engine reads while the service runs: the same PostgreSQL database; for
    DuckDB, whose file one process holds, a copy of the file as it is now."""
    if engine != "duckdb":
        yield database
        return
    with tempfile.TemporaryDirectory(prefix="recent-calls-raw-") as folder:
        copy = Path(folder) / "raw.duckdb"
        shutil.copyfile(database, copy)
        yield str(copy)


def replaying(run: Run, statements: list[Statement]) -> Callable[[], None]:
    """One search of the raw engine: `statements` run on `run` as they were captured."""

    def replay() -> None:
        for sql, params in statements:
            run(sql, params)

    return replay


def time_raw(run: Run, statements: list[Statement], runs: int) -> list[float]:
    replay = replaying(run, statements)
    timings = []
    for index in range(runs + 2):
        started = time.perf_counter()
        replay()
        if index >= 2:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


# -- one engine ----------------------------------------------------------------------------------


@dataclass
class Timing:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Timing:
        return cls(percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99))


@dataclass
class Compared:
    """One query, ours beside datasette: req/s at 8 connections and one request's time alone."""

    query: str
    ours_per_s: float
    theirs_per_s: float
    ours_ms: float
    theirs_ms: float
    ours_errors: int
    theirs_errors: int

    @property
    def ratio(self) -> str:
        if self.theirs_per_s == 0:
            return "datasette completed none"
        return f"{self.ours_per_s / self.theirs_per_s:.2f}"


@dataclass
class EngineResult:
    engine: str
    version: str
    raw: dict[str, Timing] = field(default_factory=dict)
    service: dict[str, Timing] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    load: list[Load] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    hits_cost_ms: float = 0.0
    cli_import_per_s: float = 0.0
    ingest_per_s: float = 0.0
    datasette: list[Compared] = field(default_factory=list)


def load_result(data: dict[str, Any]) -> EngineResult:
    result = EngineResult(**data)
    result.raw = {k: Timing(**v) for k, v in data["raw"].items()}
    result.service = {k: Timing(**v) for k, v in data["service"].items()}
    result.load = [Load(**item) for item in data["load"]]
    result.datasette = [Compared(**item) for item in data["datasette"]]
    return result


def engine_version(engine: str, database: str) -> str:
    if engine == "duckdb":
        return f"DuckDB {duckdb.__version__}"
    with psycopg.connect(database) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def credentials(database: str, tenants: list[Tenant]) -> dict[str, dict[str, str]]:
    storage = open_storage(database)
    try:
        return {t.tenant_id: bench_credential(storage, t.tenant_id, t.region) for t in tenants}
    finally:
        storage.close()


def measure_engine(
    engine: str, database: str, all_shapes: list[Shape], args: argparse.Namespace
) -> EngineResult:
    result = EngineResult(engine, engine_version(engine, database))
    tenants = list({shape.tenant.tenant_id: shape.tenant for shape in all_shapes}.values())
    keys = credentials(database, tenants)

    statements, count_sql = captured_statements(database, all_shapes)
    with (
        raw_database(engine, database) as raw,
        raw_runner(engine, raw) as run,
        serve(database, NOW, log=Path(args.logs) / f"{engine}-server.log") as served,
    ):
        result.rss_start_mb = served.rss_mb()
        for shape in all_shapes:
            log(f"{engine}: {shape.name}, raw and service taking turns")
            raws, taken, answer = time_side_by_side(
                replaying(run, statements[shape.name]),
                served.url,
                keys[shape.tenant.tenant_id],
                shape.request(),
                args.runs,
            )
            result.raw[shape.name] = Timing.of(raws)
            result.service[shape.name] = Timing.of(taken)
            result.hits[shape.name] = answer["hits"]
        big = all_shapes[0].tenant.tenant_id
        result.hits_cost_ms = Timing.of(time_raw(run, count_sql, args.runs)).p50
        log(f"{engine}: exact hits of {big}'s whole history: {result.hits_cost_ms:.1f} ms")
        mixed = [s for s in all_shapes if "5000" not in s.name]
        for connections in (1, 8, 32):
            log(f"{engine}: load at concurrency {connections}")
            result.load.append(load(served.url, keys, mixed, connections, args))
        if engine == "duckdb" and not args.skip_datasette:
            result.datasette = compare_datasette(served.url, keys, all_shapes[0].tenant, args)
        result.rss_peak_mb = served.peak_rss_mb()

    result.cli_import_per_s = cli_import_rate(engine, args)
    result.ingest_per_s = ingest_rate(engine, args)
    return result


def load(
    url: str,
    keys: dict[str, dict[str, str]],
    mixed: list[Shape],
    connections: int,
    args: argparse.Namespace,
) -> Load:
    """wrk at `connections`, rotating through the shapes of the largest tenant."""
    big = mixed[0].tenant.tenant_id
    credential = keys[big]
    path = PATH.format(region=credential["region"])
    requests = [
        (path, json_body(shape.request())) for shape in mixed if shape.tenant.tenant_id == big
    ]
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    return run_wrk(url, requests, connections=connections, duration_s=args.load_seconds,
                   headers=headers)  # fmt: skip


# -- datasette -----------------------------------------------------------------------------------


def compare_datasette(
    url: str, keys: dict[str, dict[str, str]], big: Tenant, args: argparse.Namespace
) -> list[Compared]:
    """req/s of ours and of datasette on the closest equivalent queries, both at 8 connections."""
    sqlite, queue = args.sqlite, args.datasette_queue
    month_start = END_MS - 30 * DAY
    tenant = f"tenant_id={big.tenant_id}"
    table = f"/{sqlite.stem}/calls.json?_shape=objects&_sort_desc=start_ms&_size=100&{tenant}"
    pairs = [
        ("24 h window, 100 rows",
         {"timeRange": f"{END_MS - DAY}-{NOW}", "rows": 100},
         f"{table}&start_ms__gte={END_MS - DAY}&start_ms__lte={NOW}"),
        ("caller name or number substring, 100 rows",
         {"duration": "allhistory", "rows": 100, "callerName": ["ander"]},
         f"{table}&_where=" + quote(
             "caller_name_key like '%ander%' or caller_number_key like '%ander%'")),
        ("one queue over 30 days, 100 rows",
         {"timeRange": f"{month_start}-{NOW}", "rows": 100, "tenantQueues": [queue]},
         f"{table}&start_ms__gte={month_start}&start_ms__lte={NOW}&queue_ids__contains={queue}"),
    ]  # fmt: skip
    credential = keys[big.tenant_id]
    path = PATH.format(region=credential["region"])
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    results = []
    with datasette_side.serve_datasette(sqlite) as (datasette_url, _):
        for name, body, query in pairs:
            request = {"tenantId": big.tenant_id, "page": 1, "timezone": big.timezone, **body}
            started = time.perf_counter()
            check = httpx.get(datasette_url + query, timeout=300)
            theirs_ms = (time.perf_counter() - started) * 1000
            check.raise_for_status()
            log(f"datasette: {name}: {len(check.json()['rows'])} rows in {theirs_ms:.0f} ms")
            ours_ms = time_requests(url, credential, request, runs=1, warmup=0)[0][0]
            ours = run_wrk(
                url,
                [(path, json_body(request))],
                connections=8,
                duration_s=args.load_seconds,
                headers=headers,
            )
            theirs = run_wrk(
                datasette_url,
                [(query, None)],
                connections=8,
                method="GET",
                duration_s=args.load_seconds,
            )
            results.append(Compared(name, ours.requests_per_s, theirs.requests_per_s, ours_ms,
                                    theirs_ms, ours.errors, theirs.errors))  # fmt: skip
    return results


# -- imports -------------------------------------------------------------------------------------


@contextmanager
def empty_database(engine: str, server_url: str) -> Iterator[str]:
    if engine == "duckdb":
        with tempfile.TemporaryDirectory(prefix="recent-calls-perf-") as folder:
            yield str(Path(folder) / "import.duckdb")
        return
    with postgres_database(server_url, f"recent_calls_perf_import_{os.getpid()}") as url:
        yield url


def import_file(count: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"recent-calls-perf-import-{count}.jsonl"
    if not path.exists():
        with path.open("wb") as out:
            for call in generate_calls("import01", count, seed=11, end_ms=END_MS, days=365):
                out.write(orjson.dumps(call) + b"\n")
    return path


def cli_import_rate(engine: str, args: argparse.Namespace) -> float:
    """calls/s of `recent-calls import` (the whole command, start-up included) into a new store."""
    source = import_file(args.import_calls)
    command = [sys.executable, "-m", "recent_calls"]
    with empty_database(engine, args.postgres) as database:
        subprocess.run([*command, "tenant", "create", "import01", "--region", "us",
                        "--database", database], check=True, capture_output=True)  # fmt: skip
        started = time.perf_counter()
        subprocess.run([*command, "import", "--tenant", "import01", str(source),
                        "--database", database], check=True, capture_output=True)  # fmt: skip
        elapsed = time.perf_counter() - started
    rate: float = args.import_calls / elapsed
    log(f"{engine}: CLI import {args.import_calls} calls in {elapsed:.1f} s: {rate:,.0f}/s")
    return rate


def ingest_rate(engine: str, args: argparse.Namespace) -> float:
    """calls/s through POST /customerexperience/v1/calls/{region}: 1000-call batches, 4 clients."""
    from concurrent.futures import ThreadPoolExecutor

    batch_size, clients = 1000, 4
    calls = generate_calls("push01", args.ingest_calls, seed=12, end_ms=END_MS, days=30)
    bodies: list[bytes] = []
    batch: list[dict[str, Any]] = []
    for call in calls:
        batch.append(call)
        if len(batch) == batch_size:
            bodies.append(orjson.dumps({"tenantId": "push01", "calls": batch}))
            batch = []
    if batch:
        bodies.append(orjson.dumps({"tenantId": "push01", "calls": batch}))
    with ExitStack() as stack:
        database = stack.enter_context(empty_database(engine, args.postgres))
        storage = open_storage(database)
        storage.create_tenant("push01", "us")
        credential = bench_credential(storage, "push01", "us")
        storage.close()
        served = stack.enter_context(serve(database, NOW))
        headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"],
                   "Content-Type": "application/json"}  # fmt: skip
        http = stack.enter_context(httpx.Client(base_url=served.url, timeout=300))

        def push(body: bytes) -> None:
            http.post("/customerexperience/v1/calls/us", content=body, headers=headers)\
                .raise_for_status()  # fmt: skip

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(push, bodies))
        elapsed = time.perf_counter() - started
    rate: float = args.ingest_calls / elapsed
    log(f"{engine}: ingestion {args.ingest_calls} calls in {elapsed:.1f} s: {rate:,.0f}/s")
    return rate


# -- the report ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}; {yardstick()}"  # noqa: E501


def yardstick() -> str:
    """How fast this machine runs Python now: a shared machine's speed moves from day to day,
    and with it every absolute figure of a report."""
    best = min(timeit.repeat("sum(i * i for i in range(10**7))", number=1, repeat=3))
    return f"Python's `sum(i * i for i in range(10**7))` in {best:.2f} s (best of three)"


def report(dataset: DataSet, results: list[EngineResult], args: argparse.Namespace) -> str:
    wrk = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True).stdout.split()[:2]
    versions = [f"recent-calls {recent_calls.__version__}", f"Python {platform.python_version()}",
                *(r.version for r in results), " ".join(wrk)]  # fmt: skip
    if any(r.datasette for r in results):
        versions.append(datasette_side.version())
    plan = dataset.plan()
    lines = [
        "# Performance at scale",
        "",
        f"Written by `python -m bench.perf` on {datetime.date.today().isoformat()}. "
        "Absolute times drift on a shared machine; the ratios, measured in one run, are the "
        "comparison.",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {', '.join(versions)}",
        f"- Data: {dataset.calls:,} demo calls, {dataset.tenants} tenants, {dataset.days} days; "
        f"largest tenant {plan[0].tenant_id} {plan[0].calls:,} calls; small tenant "
        f"{dataset.small.tenant_id} {dataset.small.calls:,} calls",
        f"- Each shape: {args.runs} sequential requests after 2 warm-up ones. *raw* runs the "
        "statements the storage layer issues for the request on a plain connection in process "
        "(query and fetch, nothing else; on DuckDB, whose file one process holds, from a copy "
        f"of the file); {SERVICE_TIMING} {TAKING_TURNS}",
        "",
    ]
    for r in results:
        lines += [
            f"## {r.version}",
            "",
            "| request shape | hits | raw p50 / p95 / p99 ms | service p50 / p95 / p99 ms "
            "| service/raw p50 |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, service in r.service.items():
            raw = r.raw[name]
            lines.append(
                f"| {name} | {r.hits[name]:,} | {raw.p50:.1f} / {raw.p95:.1f} / {raw.p99:.1f} | "
                f"{service.p50:.1f} / {service.p95:.1f} / {service.p99:.1f} | "
                f"{service.p50 / raw.p50:.2f} |"
            )
        lines += [
            "",
            f"Exact `hits` over the largest tenant's whole history ({plan[0].calls:,} calls; "
            f"the statements the storage layer counts them with, raw): "
            f"{r.hits_cost_ms:.1f} ms p50.",
            "",
            f"Throughput (wrk in its own process, {args.load_seconds} s per level, rotating "
            "through the shapes above that return 100 or 500 rows):",
            "",
            "| connections | req/s | p50 ms | p99 ms | errors |",
            "|---:|---:|---:|---:|---:|",
            *(f"| {load.row} |" for load in r.load),
            "",
            f"Server memory: {r.rss_start_mb:.0f} MB resident after start, "
            f"{r.rss_peak_mb:.0f} MB at peak.",
            "",
            f"Import: `recent-calls import` of {args.import_calls:,} calls "
            f"{r.cli_import_per_s:,.0f} calls/s (whole command); ingestion endpoint "
            f"({args.ingest_calls:,} calls in 1000-call batches, 4 clients) "
            f"{r.ingest_per_s:,.0f} calls/s.",
            "",
        ]
        if r.datasette:
            lines += [
                "### Beside datasette",
                "",
                "The same calls in SQLite (index on tenant and start time) served by datasette's "
                "JSON API, with the closest equivalent filters; both at 8 connections.",
                "",
                "| query | ours req/s | datasette req/s | ratio | ours alone ms "
                "| datasette alone ms | errors (ours / datasette) |",
                "|---|---:|---:|---:|---:|---:|---:|",
                *(
                    f"| {c.query} | {c.ours_per_s:,.1f} | {c.theirs_per_s:,.1f} | {c.ratio} | "
                    f"{c.ours_ms:,.0f} | {c.theirs_ms:,.0f} | {c.ours_errors} / {c.theirs_errors} |"
                    for c in r.datasette
                ),
                "",
            ]
    lines += targets(results)
    return "\n".join(lines) + "\n"


def targets(results: list[EngineResult]) -> list[str]:
    """The performance targets this suite measures, per engine (bench.run measures them all,
    with the engine's own throughput at 8 threads and memory over 1,000 pages beside them)."""
    rows = []
    for r in results:
        name = r.version.split()[0]
        latency, latency_met = latency_verdict(
            {shape: r.raw[shape].p50 for shape in r.service},
            {shape: r.service[shape].p50 for shape in r.service},
        )
        least = MIN_IMPORT_PER_S[r.engine]
        page1 = r.service[ALL_HISTORY].p50
        page200 = r.service["all history, 5000 rows, page 200"].p50
        rows += [
            (name, LATENCY_TARGET, latency, latency_met),
            (name, f"`recent-calls import` >= {least:,} calls/s",
             f"{r.cli_import_per_s:,.0f} calls/s", r.cli_import_per_s >= least),
            (name, f"exact hits of the largest tenant's whole history < {MAX_HITS_MS:.0f} ms",
             f"{r.hits_cost_ms:.1f} ms p50", r.hits_cost_ms < MAX_HITS_MS),
            (name, "page 200 of 5000 rows within 2x of page 1", f"{page200 / page1:.2f}x",
             page200 <= 2 * page1),
        ]  # fmt: skip
        if r.datasette:
            share = min(
                c.ours_per_s / c.theirs_per_s if c.theirs_per_s else float("inf")
                for c in r.datasette
            )
            rows.append((name, ">= 2x datasette's req/s", f"least {share:.2f}x", share >= 2))
    return [
        "## Targets",
        "",
        "| engine | target | measured | met |",
        "|---|---|---|:---:|",
        *(f"| {engine} | {target} | {value} | {'yes' if met else 'no'} |"
          for engine, target, value, met in rows),
        "",
        "The engine's own throughput at 8 threads, memory over 1,000 pages and the server "
        "comparison are measured by `python -m bench.run` (docs/performance.md).",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument(
        "--postgres", default=LOCAL_POSTGRES, help="server URL to make databases on"
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per shape")
    parser.add_argument("--load-seconds", type=int, default=15)
    parser.add_argument("--import-calls", type=int, default=1_000_000)
    parser.add_argument("--ingest-calls", type=int, default=100_000)
    parser.add_argument("--skip-datasette", action="store_true")
    parser.add_argument(
        "--report-only", action="store_true", help=f"rewrite the report from {RESULTS.name}"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "performance-at-scale.md"))
    args = parser.parse_args()
    wrk_binary()  # fail now, not after building the data set

    dataset = DataSet(args.calls, args.tenants, args.days)
    if args.report_only:
        text = report(dataset, [load_result(r) for r in json.loads(RESULTS.read_text())], args)
        Path(args.output).write_text(text)
        print(text)
        return
    args.dataset = dataset
    build_started = time.perf_counter()
    args.duckdb_path = build_duckdb(dataset)
    databases = {"duckdb": str(args.duckdb_path)}
    # The SQLite copy is made in another process while PostgreSQL loads: both only read the
    # DuckDB file, and the load leaves CPU over (its server process is the slower side).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as side:
        sqlite = None
        if not args.skip_datasette:  # read the DuckDB file now: the server will hold it later
            sqlite = side.submit(datasette_side.build_sqlite, dataset, args.duckdb_path)
        if "postgres" in args.engines.split(","):
            databases["postgres"] = build_postgres(dataset, args.postgres, args.duckdb_path)
        if sqlite is not None:
            args.sqlite = sqlite.result()
            args.datasette_queue = common_values(
                args.duckdb_path, dataset.largest.tenant_id, "queue_ids", 1
            )[0]
    log(f"data set: every database ready in {time.perf_counter() - build_started:.0f} s")
    all_shapes = shapes(dataset.largest, dataset.small, partial(common_values, args.duckdb_path))
    with tempfile.TemporaryDirectory(prefix="recent-calls-perf-logs-") as logs:
        args.logs = logs
        results = [
            measure_engine(engine, database, all_shapes, args)
            for engine, database in databases.items()
            if engine in args.engines.split(",")
        ]
    RESULTS.write_text(json.dumps([asdict(r) for r in results], indent=1))
    text = report(dataset, results, args)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
