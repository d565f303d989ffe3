"""Every target of the performance issue, on DuckDB and on PostgreSQL, measured in one run.

    scripts/bootstrap bench                 # once: the project and granian (the `bench` extra)
    .venv/bin/python -m bench.run           # 1M calls in the largest tenant, both engines
    .venv/bin/python -m bench.run --calls 20000 --runs 5 --load-seconds 3 --rss-pages 50
    .venv/bin/python -m bench.run --engine duckdb
    .venv/bin/python -m bench.run --report-only   # re-render the report from the last results

Needs wrk (`apt-get install wrk`; bench/perf installs it). The demo calls are generated once
into JSON Lines files under bench/data/. For each engine: a fresh database (a DuckDB file in a
temporary folder; a PostgreSQL database made on --postgres and dropped afterwards), both
tenants made with `recent-calls tenant create`, the small tenant's file and then the big one's
imported with `recent-calls import`, and everything measured as soon as that command returns:
nothing is compacted, vacuumed or analysed beyond what the import does itself.

- Each request shape (bench/perf.py's) as the raw engine query (the statements the storage layer
  issues for it, captured and replayed on a plain connection in this process; on DuckDB from a
  copy of the file, which the server holds) and end to end over HTTP, the two taking turns in
  blocks of five (`time_side_by_side`); the exact hits of the big tenant's whole history, raw.
- Throughput on the 24 h page: wrk at 1, 8 and 32 connections against `recent-calls serve`
  (`--workers` = the machine's cores on PostgreSQL; one process on DuckDB, whose file takes one
  writer process); at 8 it takes turns, in three slices, with the raw engine answering the same
  statements from 8 threads, each on its own connection; /healthz at 8 connections, the fixed
  cost of a request.
- The whole `recent-calls import` command of the big file, start-up included; the same calls in
  the vendor's shape the same way (into a new database holding the small tenant's calls), and
  into the database measured, whose table already holds both files' calls.
- Resident memory of a one-process server over --rss-pages sequential 5000-row pages.
- The same app under granian, with as many workers, on the 24 h page at 8 connections.

The report goes to stdout and --output (docs/performance.md); the measurements to
bench/data/run-results.json.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import uvicorn

import recent_calls
from recent_calls.demo import generate_calls

from .common import (
    LATENCY_TARGET,
    MAX_HITS_MS,
    MAX_RSS_GROWTH_MB,
    MIN_IMPORT_PER_S,
    MIN_THROUGHPUT_SHARE,
    PATH,
    SERVICE_TIMING,
    TAKING_TURNS,
    latency_verdict,
    postgres_database,
    serve,
    serve_granian,
    time_side_by_side,
)
from .dataset import DATA, END_MS, Tenant, log
from .imports import create_tenant, time_import
from .loadgen import Load, run_wrk, wrk_binary
from .perf import (
    ALL_HISTORY,
    DAY_PAGE,
    LOCAL_POSTGRES,
    NOW,
    ROOT,
    CommonValues,
    Shape,
    Statement,
    Timing,
    captured_statements,
    engine_version,
    load,
    machine,
    raw_database,
    raw_runner,
    replaying,
    shapes,
    time_raw,
)

BIG, SMALL = "bigco01", "smallco01"
VENDOR = "vendorco01"  # the big tenant's calls again, in the vendor's shape
DAYS = 365
ZONE = "America/New_York"
RESULTS = DATA / "run-results.json"  # the last run's measurements, for --report-only
NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL"}

WARM_PAGES = 20  # 5000-row pages before the first memory reading
ENGINE_THREADS = 8
LOAD_TURNS = 3  # slices each of the service's and the engine's shared load (`shared_load`)


# -- the data set --------------------------------------------------------------------------------


def write_calls(path: Path, tenant: str, count: int, seed: int, days: int) -> None:
    with path.open("wb") as out:
        for call in generate_calls(
            tenant, count, seed=seed, end_ms=END_MS, days=days, timezone=ZONE
        ):
            out.write(orjson.dumps(call))
            out.write(b"\n")


# What the vendor's API answers and `sync` stores: a data item, every number a string but
# muteDuration, the start only as the local callDate (read in the tenant's zone).
_NOT_VENDOR_KEYS = ("startTime", "agentHoldCount", "agentMuteCount")


def vendor_file(source: Path) -> Path:
    """`source`'s calls in the vendor's shape (no startTime: only the local callDate), made once
    and kept beside it."""
    path = source.with_name(f"{source.stem}-vendor.jsonl")
    if not path.exists():
        log(f"writing {source.name}'s calls in the vendor's shape into {path} ...")
        partial = path.with_suffix(".partial")
        with source.open("rb") as lines, partial.open("wb") as out:
            for line in lines:
                call = orjson.loads(line)
                for key in _NOT_VENDOR_KEYS:
                    call.pop(key, None)
                out.write(orjson.dumps(call))
                out.write(b"\n")
        partial.rename(path)
    return path


def data_files(tenants: list[Tenant]) -> dict[str, Path]:
    """Each tenant's demo calls as JSON Lines, generated once and kept under bench/data/."""
    files = {}
    for seed, tenant in enumerate(tenants, start=1):
        path = DATA / f"run-{tenant.tenant_id}-{tenant.calls}.jsonl"
        if not path.exists():
            DATA.mkdir(exist_ok=True)
            log(f"generating {tenant.calls:,} calls for {tenant.tenant_id} into {path} ...")
            partial = path.with_suffix(".partial")
            write_calls(partial, tenant.tenant_id, tenant.calls, seed, DAYS)
            partial.rename(path)
        files[tenant.tenant_id] = path
    return files


LIST_FIELDS = {"agent_ids": "agentId", "queue_ids": "queueId", "agent_groups": "agentGroup"}


def file_values(files: dict[str, Path]) -> CommonValues:
    """`CommonValues` counted in the files the tenants are imported from (their comma-separated
    lists split as the import splits them): no query touches a database before it is measured,
    and both engines get the same shapes."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for tenant_id, path in files.items():
        tallies: dict[str, Counter[str]] = {column: Counter() for column in LIST_FIELDS}
        with path.open("rb") as lines:
            for line in lines:
                call = orjson.loads(line)
                for column, key in LIST_FIELDS.items():
                    value = call.get(key) or ""
                    parts = value if isinstance(value, list) else str(value).split(",")
                    tallies[column].update(part.strip() for part in parts if part.strip())
        counts.update({(tenant_id, column): tally for column, tally in tallies.items()})

    def common(tenant_id: str, column: str, count: int) -> list[str]:
        ranked = sorted(counts[tenant_id, column].items(), key=lambda item: (-item[1], item[0]))
        return [value for value, _ in ranked[:count]]

    return common


# -- results -------------------------------------------------------------------------------------


@dataclass
class ShapeResult:
    hits: int
    raw: Timing
    service: Timing


@dataclass
class GranianResult:
    load: Load | None  # the 24 h page at 8 connections; None when granian could not serve
    same_answer: bool  # its answer to the 24 h page is byte for byte uvicorn's
    problem: str  # why it is no sound comparison; "" when it is

    @property
    def sound(self) -> bool:
        return not self.problem


@dataclass
class EngineRun:
    engine: str
    version: str
    workers: int  # API processes of the server under load
    import_s: float
    import_per_s: float
    import_cpu_s: float
    import_summary: str
    shapes: dict[str, ShapeResult]
    load: list[Load]  # the 24 h page at 1, 8 and 32 connections
    engine_per_s: float  # the raw engine on the 24 h page, 8 threads
    healthz: Load
    rss_cold_mb: float  # after WARM_PAGES pages
    rss_warm_mb: float  # after one round of every page: the engine's cache holds the table
    rss_end_mb: float  # after --rss-pages more
    hits: Timing  # exact hits of the big tenant's whole history, raw
    granian: GranianResult
    # The same calls in the vendor's shape (`vendor_file`), into a tenant of their own in a
    # new database holding the small tenant's calls, as the first import went; None in results
    # written before it was measured (0.7.7's went into the database measured, below).
    vendor_import_s: float | None = None
    vendor_import_per_s: float | None = None
    vendor_import_cpu_s: float | None = None
    vendor_import_summary: str = ""
    # The same file imported last into the database measured, a table already holding the
    # first imports' calls: the import of a day's calls into a large table, at scale.
    filled_import_s: float | None = None
    filled_import_per_s: float | None = None
    filled_import_cpu_s: float | None = None
    filled_import_summary: str = ""

    @property
    def name(self) -> str:
        return NAMES[self.engine]

    def at(self, connections: int) -> Load:
        return next(item for item in self.load if item.connections == connections)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> EngineRun:
        granian = item["granian"]
        shapes = {
            name: ShapeResult(shape["hits"], Timing(**shape["raw"]), Timing(**shape["service"]))
            for name, shape in item["shapes"].items()
        }
        return cls(**{
            **item,
            "shapes": shapes,
            "load": [Load(**entry) for entry in item["load"]],
            "healthz": Load(**item["healthz"]),
            "hits": Timing(**item["hits"]),
            "granian": GranianResult(**{**granian,
                                        "load": granian["load"] and Load(**granian["load"])}),
        })  # fmt: skip


@dataclass
class Results:
    date: str
    machine: str
    versions: dict[str, str]
    calls: int
    small_calls: int
    runs: int
    load_seconds: int
    rss_pages: int
    engines: list[EngineRun]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        return cls(**{**data, "engines": [EngineRun.from_json(item) for item in data["engines"]]})


# -- measuring one engine ------------------------------------------------------------------------


@contextmanager
def fresh_database(engine: str, server_url: str) -> Iterator[str]:
    if engine == "duckdb":
        with tempfile.TemporaryDirectory(prefix="recent-calls-run-") as folder:
            yield str(Path(folder) / "calls.duckdb")
    else:
        with postgres_database(server_url, f"recent_calls_run_{os.getpid()}") as url:
            yield url


def engine_throughput(
    engine: str, database: str, statements: list[Statement], seconds: float
) -> float:
    """Searches per second of the raw engine replaying `statements` from ENGINE_THREADS threads,
    each on its own connection, for `seconds`."""
    started: list[float] = []
    ready = threading.Barrier(ENGINE_THREADS, action=lambda: started.append(time.perf_counter()))

    def work(_: int) -> tuple[int, float]:
        with raw_runner(engine, database) as run:
            replay = replaying(run, statements)
            replay()  # a first, untimed search opens the connection up
            ready.wait(timeout=120)
            deadline = started[0] + seconds
            done = 0
            while time.perf_counter() < deadline:
                replay()
                done += 1
            return done, time.perf_counter()

    with ThreadPoolExecutor(ENGINE_THREADS) as pool:
        finished = list(pool.map(work, range(ENGINE_THREADS)))
    return sum(done for done, _ in finished) / (max(end for _, end in finished) - started[0])


def answer_bytes(url: str, credential: dict[str, str], body: dict[str, Any]) -> bytes:
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    response = httpx.post(
        url + PATH.format(region=credential["region"]), json=body, headers=headers, timeout=300
    )
    response.raise_for_status()
    return response.content


def page_memory(
    url: str,
    rss_mb: Callable[[], float],
    credential: dict[str, str],
    shape: Shape,
    hits: int,
    pages: int,
) -> tuple[float, float, float]:
    """The server's resident memory (MB) after WARM_PAGES sequential pages of `shape`, after one
    round of all its pages there are (at most 200; a database engine's cache of the table
    fills as each part of it is first read), and after `pages` more, going round again."""
    rows = int(shape.body["rows"])
    count = max(1, min(200, -(-hits // rows)))
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    readings = {}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
        for index in range(max(count, WARM_PAGES) + pages):
            body = {**shape.request(), "page": 1 + index % count}
            http.post(PATH.format(region=credential["region"]), json=body).raise_for_status()
            if index + 1 in (WARM_PAGES, max(count, WARM_PAGES)):
                readings[index + 1] = rss_mb()
    return readings[WARM_PAGES], readings[max(count, WARM_PAGES)], rss_mb()


def shared_load(
    engine: str,
    raw: str,
    url: str,
    keys: dict[str, dict[str, str]],
    day: Shape,
    statements: list[Statement],
    args: argparse.Namespace,
) -> tuple[Load, float]:
    """The 24 h page at ENGINE_THREADS connections (wrk) and the raw engine's queries/s from as
    many threads, taking turns in LOAD_TURNS slices of equal length: each side's figure is
    its requests over its slices' time (p50: the slices' median; p99: their worst)."""
    seconds = max(1, round(args.load_seconds / LOAD_TURNS))  # wrk takes whole seconds
    sliced = argparse.Namespace(**{**vars(args), "load_seconds": seconds})
    loads, rates = [], []
    for _ in range(LOAD_TURNS):
        rates.append(engine_throughput(engine, raw, statements, seconds))
        loads.append(load(url, keys, [day], ENGINE_THREADS, sliced))
    requests, taken = sum(x.requests for x in loads), sum(x.seconds for x in loads)
    combined = Load(
        connections=ENGINE_THREADS,
        requests=requests,
        seconds=taken,
        requests_per_s=requests / taken,
        p50_ms=statistics.median(x.p50_ms for x in loads),
        p99_ms=max(x.p99_ms for x in loads),
        errors=sum(x.errors for x in loads),
    )
    return combined, statistics.fmean(rates)


def measure_engine(
    engine: str, files: dict[str, Path], all_shapes: list[Shape], args: argparse.Namespace
) -> EngineRun:
    workers = (os.cpu_count() or 1) if engine == "postgres" else 1
    day = next(shape for shape in all_shapes if shape.name == DAY_PAGE)
    whole = next(shape for shape in all_shapes if shape.name == ALL_HISTORY)
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database(engine, args.postgres))
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recent-calls-logs-")))
        keys = {tenant: create_tenant(database, tenant) for tenant in (SMALL, BIG)}
        log(f"{engine}: recent-calls import {SMALL}, then {BIG}")
        time_import(database, files[SMALL], tenant=SMALL)
        imported = time_import(database, files[BIG], tenant=BIG)
        # From here on, everything is measured on the database as the import left it.

        statements, count_sql = captured_statements(database, all_shapes)
        raw = stack.enter_context(raw_database(engine, database))
        results: dict[str, ShapeResult] = {}
        loads: list[Load] = []
        server_log = logs / "server.log"
        with (
            serve(database, NOW, log=server_log, workers=workers) as served,
            raw_runner(engine, raw) as run,
        ):
            for shape in all_shapes:
                log(f"{engine}: {shape.name}, raw and service taking turns")
                credential = keys[shape.tenant.tenant_id]
                raws, taken, answer = time_side_by_side(
                    replaying(run, statements[shape.name]),
                    served.url,
                    credential,
                    shape.request(),
                    args.runs,
                )
                results[shape.name] = ShapeResult(answer["hits"], Timing.of(raws), Timing.of(taken))
            hits = Timing.of(time_raw(run, count_sql, args.runs))
            log(f"{engine}: 24 h page at 1 connection")
            loads.append(load(served.url, keys, [day], 1, args))
            log(f"{engine}: 24 h page at {ENGINE_THREADS} connections and the raw engine at "
                f"{ENGINE_THREADS} threads, taking turns")  # fmt: skip
            shared, engine_per_s = shared_load(
                engine, raw, served.url, keys, day, statements[DAY_PAGE], args
            )
            loads.append(shared)
            log(f"{engine}: 24 h page at 32 connections")
            loads.append(load(served.url, keys, [day], 32, args))
            healthz = run_wrk(served.url, [("/healthz", None)], connections=8,
                              duration_s=args.load_seconds, method="GET")  # fmt: skip
            expected = answer_bytes(served.url, keys[BIG], day.request())
        if any(item.errors for item in [*loads, healthz]):
            log(f"{engine}: errors under load; the server said:\n{server_log.read_text()[-3000:]}")

        log(f"{engine}: granian, {workers} worker(s)")
        granian = measure_granian(engine, database, workers, keys, day, expected, logs, args)

        log(f"{engine}: memory over {args.rss_pages} pages of 5000 rows")
        with serve(database, NOW, log=logs / "memory-server.log") as served:
            cold, warm, end = page_memory(served.url, served.rss_mb, keys[BIG], whole,
                                    results[ALL_HISTORY].hits, args.rss_pages)  # fmt: skip
        log(f"{engine}: recent-calls import of the same calls in the vendor's shape, into the "
            "database measured")  # fmt: skip
        create_tenant(database, VENDOR)
        filled = time_import(
            database, vendor_file(files[BIG]), tenant=VENDOR, extra=("--timezone", ZONE)
        )
        version = engine_version(engine, database)
    log(f"{engine}: recent-calls import of the vendor's shape into a new database holding "
        f"{SMALL}, as the first import went")  # fmt: skip
    with fresh_database(engine, args.postgres) as again:
        for tenant in (SMALL, VENDOR):
            create_tenant(again, tenant)
        time_import(again, files[SMALL], tenant=SMALL)
        vendor = time_import(
            again, vendor_file(files[BIG]), tenant=VENDOR, extra=("--timezone", ZONE)
        )

    return EngineRun(
        engine=engine,
        version=version,
        workers=workers,
        import_s=imported.seconds,
        import_per_s=day.tenant.calls / imported.seconds,
        import_cpu_s=imported.cpu_s,
        import_summary=imported.summary,
        shapes=results,
        load=loads,
        engine_per_s=engine_per_s,
        healthz=healthz,
        rss_cold_mb=cold,
        rss_warm_mb=warm,
        rss_end_mb=end,
        hits=hits,
        granian=granian,
        vendor_import_s=vendor.seconds,
        vendor_import_per_s=day.tenant.calls / vendor.seconds,
        vendor_import_cpu_s=vendor.cpu_s,
        vendor_import_summary=vendor.summary,
        filled_import_s=filled.seconds,
        filled_import_per_s=day.tenant.calls / filled.seconds,
        filled_import_cpu_s=filled.cpu_s,
        filled_import_summary=filled.summary,
    )


def measure_granian(
    engine: str,
    database: str,
    workers: int,
    keys: dict[str, dict[str, str]],
    day: Shape,
    expected: bytes,
    logs: Path,
    args: argparse.Namespace,
) -> GranianResult:
    """The app under granian on the 24 h page at 8 connections, if it serves it soundly: no
    errors, and the answer uvicorn gave byte for byte."""
    if importlib.util.find_spec("granian") is None:
        return GranianResult(None, False, "granian is not installed (scripts/bootstrap bench)")
    log_path = logs / "granian.log"
    try:
        with serve_granian(database, NOW, workers, log=log_path) as url:
            same = answer_bytes(url, keys[BIG], day.request()) == expected
            measured = load(url, keys, [day], 8, args)
    except (RuntimeError, httpx.HTTPError, subprocess.CalledProcessError) as error:
        shown = log_path.read_text()[-1000:] if log_path.exists() else ""
        return GranianResult(None, False, f"{error} {shown}".strip())
    problems = [] if same else ["its answer differs from uvicorn's"]
    if measured.errors:
        problems.append(f"{measured.errors} errors under load")
    if problems:
        log(f"{engine}: granian: {'; '.join(problems)}; its log:\n{log_path.read_text()[-3000:]}")
    return GranianResult(measured, same, "; ".join(problems))


# -- the report ----------------------------------------------------------------------------------


def versions(engines: list[EngineRun]) -> dict[str, str]:
    wrk = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True).stdout.split()
    try:
        granian = importlib.metadata.version("granian")
    except importlib.metadata.PackageNotFoundError:
        granian = "not installed"
    found = {
        "recent-calls": recent_calls.__version__,
        "Python": platform.python_version(),
        "DuckDB": duckdb.__version__,
    }
    for run in engines:
        if run.engine == "postgres":
            found["PostgreSQL"] = run.version.removeprefix("PostgreSQL ")
    found.update({"wrk": wrk[1] if len(wrk) > 1 else "?", "uvicorn": uvicorn.__version__,
                  "granian": granian})  # fmt: skip
    return found


def targets(run: EngineRun, pages: int) -> list[tuple[str, str, bool]]:
    """(target, measured, met) of one engine."""
    latency, latency_met = latency_verdict(
        {name: s.raw.p50 for name, s in run.shapes.items()},
        {name: s.service.p50 for name, s in run.shapes.items()},
    )
    at8 = run.at(8)
    share = at8.requests_per_s / run.engine_per_s if run.engine_per_s else 0.0
    growth = run.rss_end_mb - run.rss_warm_mb
    rate = round(run.import_per_s)
    minimum = MIN_IMPORT_PER_S[run.engine]
    vendor = []  # results written before the vendor's shape was measured have none
    if run.vendor_import_per_s is not None:
        vendor_rate = round(run.vendor_import_per_s)
        target = (
            f"`recent-calls import` >= {minimum:,} calls/s, the vendor's shape (callDate only), "
            "into a database as the first import's"
        )
        vendor.append((target, f"{vendor_rate:,} calls/s", vendor_rate >= minimum))
    granian = run.granian
    if granian.load is None:
        compared = f"not measured: {granian.problem}"
    else:
        compared = (
            f"granian {granian.load.requests_per_s:,.1f} req/s, p50 {granian.load.p50_ms:.1f} ms; "
            f"uvicorn {at8.requests_per_s:,.1f} req/s, p50 {at8.p50_ms:.1f} ms "
            f"({granian.load.requests_per_s / at8.requests_per_s:.2f}x)"
            + (f"; {granian.problem}" if granian.problem else "")
        )
    return [
        (LATENCY_TARGET, latency, latency_met),
        (f"`recent-calls import` >= {minimum:,} calls/s", f"{rate:,} calls/s", rate >= minimum),
        *vendor,
        (f"24 h page: req/s at 8 connections >= {MIN_THROUGHPUT_SHARE:.0%} of the engine's q/s "
         f"at {ENGINE_THREADS} threads",
         f"{at8.requests_per_s:,.1f} / {run.engine_per_s:,.1f} = {share:.0%}",
         share >= MIN_THROUGHPUT_SHARE),
        (f"memory growth over {pages:,} 5000-row pages <= {MAX_RSS_GROWTH_MB:.0f} MB "
         "(after one round of every page)",
         f"{growth:+.1f} MB (from the 20th page: "
         f"{run.rss_end_mb - run.rss_cold_mb:+.1f} MB)", growth <= MAX_RSS_GROWTH_MB),
        (f"exact hits of the big tenant's whole history < {MAX_HITS_MS:.0f} ms"
         + (" (PostgreSQL's target; here for context)" if run.engine == "duckdb" else ""),
         f"{run.hits.p50:.1f} ms p50", run.hits.p50 < MAX_HITS_MS),
        (f"uvicorn and granian compared at {run.workers} worker(s), 24 h page, 8 connections",
         compared, granian.sound),
    ]  # fmt: skip


def report(results: Results) -> str:
    shown_versions = ", ".join(f"{name} {version}" for name, version in results.versions.items())
    lines = [
        "# Performance targets",
        "",
        f"Written by `python -m bench.run` on {results.date}. Absolute times drift on a shared "
        "machine; the ratios, measured in one run, are the comparison. The 10M-call, "
        "100-tenant suite is [performance-at-scale.md](performance-at-scale.md).",
        "",
        f"- Machine: {results.machine}",
        f"- Versions: {shown_versions}",
        f"- Data: {results.calls:,} demo calls in {BIG} and {results.small_calls:,} in {SMALL}, "
        f"{DAYS} days, as JSON Lines imported with `recent-calls import` into a fresh database "
        "per engine; everything below is measured as soon as the import returned (no "
        "compaction, VACUUM or ANALYZE but what the import does itself).",
        f"- Each shape: {results.runs} sequential requests after 2 warm-up ones. *raw* replays "
        "the statements the storage layer issues for the request on a plain connection in "
        "process (query and fetch, nothing else; on DuckDB, whose file one process holds, "
        f"from a copy of the file as the import left it); {SERVICE_TIMING} {TAKING_TURNS}",
        f"- Load: wrk in its own process, {results.load_seconds} s per level, on the 24 h page; "
        f"at {ENGINE_THREADS} connections it takes turns with the raw engine answering the same "
        f"statements from {ENGINE_THREADS} threads in this process, each on its own connection, "
        f"in {LOAD_TURNS} slices each of a third of that time.",
        "",
    ]
    for run in results.engines:
        lines += engine_section(run, results)
    lines += [
        "## Targets",
        "",
        "| engine | target | measured | met |",
        "|---|---|---|:---:|",
    ]
    for run in results.engines:
        for target, measured, met in targets(run, results.rss_pages):
            lines.append(f"| {run.name} | {target} | {measured} | {'yes' if met else 'no'} |")
    lines += [
        "",
        "The granian row is met when granian served the app soundly (no errors, uvicorn's "
        "answer byte for byte) and so could be compared; which server is faster is in the "
        "measured column.",
    ]
    return "\n".join(lines) + "\n"


def engine_section(run: EngineRun, results: Results) -> list[str]:
    processes = f"{run.workers} API processes" if run.workers > 1 else "one process"
    lines = [
        f"## {run.version}",
        "",
        f"Import: `recent-calls import` of {results.calls:,} calls (the whole command, start-up "
        f"included): {run.import_s:.1f} s, {run.import_per_s:,.0f} calls/s "
        f"({run.import_cpu_s:.1f} s CPU in the command's processes). It said: "
        f"`{run.import_summary}`."
        + (
            f" The same calls in the vendor's shape (every number a string but muteDuration, the "
            f"start only as the local callDate), into a tenant of their own in a new database "
            f"holding {results.small_calls:,} calls, as the first import went: "
            f"{run.vendor_import_s:.1f} s, {run.vendor_import_per_s or 0:,.0f} calls/s "
            f"({run.vendor_import_cpu_s or 0:.1f} s CPU). It said: `{run.vendor_import_summary}`."
            if run.vendor_import_s
            else ""
        )
        + (
            f" The same file imported last into the database measured here, whose table already "
            f"held {results.calls + results.small_calls:,} calls (reported, no target): "
            f"{run.filled_import_s:.1f} s, "
            f"{run.filled_import_per_s or 0:,.0f} calls/s ({run.filled_import_cpu_s or 0:.1f} s "
            f"CPU)."
            if run.filled_import_s
            else ""
        ),
        "",
        "| request shape | hits | raw p50 / p95 ms | service p50 / p95 ms | service/raw p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, shape in run.shapes.items():
        lines.append(
            f"| {name} | {shape.hits:,} | {shape.raw.p50:.1f} / {shape.raw.p95:.1f} | "
            f"{shape.service.p50:.1f} / {shape.service.p95:.1f} | "
            f"{shape.service.p50 / shape.raw.p50:.2f} |"
        )
    lines += [
        "",
        f"Exact `hits` of {BIG}'s whole history ({results.calls:,} calls; the statements the "
        f"storage layer counts them with, raw): {run.hits.p50:.1f} ms p50, "
        f"{run.hits.p95:.1f} ms p95.",
        "",
        f"Throughput on the 24 h page (`recent-calls serve`, {processes}):",
        "",
        "| load | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| uvicorn, {item.connections} connection{'s' if item.connections > 1 else ''} | "
            f"{item.requests_per_s:,.1f} | {item.p50_ms:.1f} | {item.p99_ms:.1f} | {item.errors} |"
            for item in run.load
        ),
        f"| raw engine, {ENGINE_THREADS} threads (queries/s) | {run.engine_per_s:,.1f} | | | |",
        f"| /healthz, 8 connections | {run.healthz.requests_per_s:,.1f} | "
        f"{run.healthz.p50_ms:.1f} | {run.healthz.p99_ms:.1f} | {run.healthz.errors} |",
    ]
    granian = run.granian
    if granian.load is not None:
        lines.append(
            f"| granian, 8 connections | {granian.load.requests_per_s:,.1f} | "
            f"{granian.load.p50_ms:.1f} | {granian.load.p99_ms:.1f} | {granian.load.errors} |"
        )
    answer = (
        "the same answer as uvicorn, byte for byte" if granian.same_answer else "a different answer"
    )
    lines += [
        "",
        f"granian ({processes}, `--interface asgi`, the app of bench/granian_app.py): "
        + (granian.problem or answer)
        + (f"; {answer}" if granian.problem and granian.load is not None else "")
        + ".",
        "",
        f"Memory (a one-process server, its processes' resident memory): "
        f"{run.rss_cold_mb:.1f} MB after {WARM_PAGES} sequential 5000-row pages of all history, "
        f"{run.rss_warm_mb:.1f} MB after one round of every page (the engine's cache fills as "
        f"each part of the table is first read), {run.rss_end_mb:.1f} MB after "
        f"{results.rss_pages:,} more ({run.rss_end_mb - run.rss_warm_mb:+.1f} MB).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls in the big tenant")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per shape")
    parser.add_argument("--load-seconds", type=int, default=15, help="per load level")
    parser.add_argument("--rss-pages", type=int, default=1000, help="5000-row pages for memory")
    parser.add_argument("--engine", choices=["duckdb", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres",
        default=LOCAL_POSTGRES,
        help="a PostgreSQL server URL that may create databases",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument(
        "--report-only", action="store_true", help=f"rewrite the report from {RESULTS.name}"
    )
    args = parser.parse_args()
    if args.report_only:
        text = report(Results.from_json(json.loads(RESULTS.read_text())))
        Path(args.output).write_text(text)
        print(text)
        return
    if args.rss_pages <= WARM_PAGES:
        parser.error(f"--rss-pages must be more than the {WARM_PAGES} warm-up pages")
    wrk_binary()  # fail now, not after the imports

    big = Tenant(BIG, args.calls, "us", ZONE)
    small = Tenant(SMALL, max(args.calls // 20, 1000), "us", ZONE)
    files = data_files([big, small])
    log("counting the most used agents, queues and groups in the files")
    all_shapes = shapes(big, small, file_values(files))
    engines = ["duckdb", "postgres"] if args.engine == "both" else [args.engine]
    runs = [measure_engine(engine, files, all_shapes, args) for engine in engines]
    results = Results(
        date=datetime.date.today().isoformat(),
        machine=machine(),
        versions=versions(runs),
        calls=big.calls,
        small_calls=small.calls,
        runs=args.runs,
        load_seconds=args.load_seconds,
        rss_pages=args.rss_pages,
        engines=runs,
    )
    DATA.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(asdict(results), indent=1))
    text = report(results)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
