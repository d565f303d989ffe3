"""Citus beside one PostgreSQL server: the bench/perf data set on the local cluster.

    scripts/citus-cluster start
    .venv/bin/python -m bench.citus                      # 10M calls, 100 tenants, 2 years
    .venv/bin/python -m bench.citus --calls 1000000      # a quicker look

The data set is bench/perf's (built once, kept under bench/data/), loaded into a database on the
single server and into one on the cluster (made on every node, distributed by
`recent_calls.storage.citus.distribute` before loading). Each request shape is timed end to end
over HTTP on loopback against a `recent-calls serve` on each side; wrk then loads each side at 8
and 32 connections. Last, a third worker joins the cluster and `citus_rebalance_start()` moves
shards to it while wrk keeps loading the service: the errors wrk saw and the time the rebalance
took are reported. Results go to stdout and bench/data/citus-results.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import psycopg

from recent_calls.storage.citus import distribute

from .common import PATH, percentile, serve, time_requests
from .dataset import DATA, DataSet, build_duckdb, build_postgres, load_server, log
from .loadgen import Load, json_body, run_wrk, wrk_binary
from .perf import LOCAL_POSTGRES, NOW, Shape, common_values, credentials, shapes

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "scripts" / "citus-cluster"
RESULTS = DATA / "citus-results.json"


def cluster(*args: str) -> str:
    """Run scripts/citus-cluster; its last line of output."""
    done = subprocess.run([str(CLUSTER), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"scripts/citus-cluster {' '.join(args)}: {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def build_citus(dataset: DataSet, source: Path) -> str:
    """The data set in a database on the cluster, distributed before it is loaded; kept."""
    name = f"recent_calls_perf_{dataset.calls}_{dataset.tenants}_{dataset.days}_{dataset.seed}"
    url = cluster("url", name)
    try:
        with psycopg.connect(url) as conn:
            kept = (
                conn.execute(
                    "SELECT 1 FROM pg_tables WHERE tablename = 'bench_signature'"
                ).fetchone()
                and conn.execute(
                    "SELECT 1 FROM bench_signature WHERE signature = %s", (dataset.signature,)
                ).fetchone()
            )
        if kept:
            log(f"data set: reusing Citus database {name}")
            return url
    except psycopg.OperationalError:
        pass
    cluster("dropdb", name)
    cluster("createdb", name)
    report = distribute(url)
    log(f"citus: {', '.join(report.lines())}")
    load_server(dataset, url, source, "Citus")
    return url


@dataclass
class Side:
    name: str
    service_p50: dict[str, float] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    load: list[Load] = field(default_factory=list)


def _wrk_requests(
    keys: dict[str, dict[str, str]], mixed: list[Shape]
) -> tuple[list[tuple[str, bytes | None]], dict[str, str]]:
    big = mixed[0].tenant.tenant_id
    credential = keys[big]
    path = PATH.format(region=credential["region"])
    requests: list[tuple[str, bytes | None]] = [
        (path, json_body(shape.request())) for shape in mixed if shape.tenant.tenant_id == big
    ]
    return requests, {"8x8-apikey": credential["apiKey"], "token": credential["token"]}


def measure(name: str, database: str, all_shapes: list[Shape], args: argparse.Namespace) -> Side:
    side = Side(name)
    tenants = list({shape.tenant.tenant_id: shape.tenant for shape in all_shapes}.values())
    keys = credentials(database, tenants)
    with serve(database, NOW, log=DATA / f"citus-bench-{name}-server.log") as served:
        for shape in all_shapes:
            log(f"{name}: service {shape.name}")
            timings, answer = time_requests(
                served.url, keys[shape.tenant.tenant_id], shape.request(), args.runs
            )
            side.service_p50[shape.name] = percentile(timings, 0.5)
            side.hits[shape.name] = int(answer["hits"])
        mixed = [s for s in all_shapes if "5000" not in s.name]
        requests, headers = _wrk_requests(keys, mixed)
        for connections in (8, 32):
            log(f"{name}: load at {connections} connections")
            side.load.append(
                run_wrk(
                    served.url,
                    requests,
                    connections=connections,
                    duration_s=args.load_seconds,
                    headers=headers,
                )
            )
    return side


@dataclass
class Rebalance:
    worker: str
    seconds: float
    state: str
    requests: int
    errors: int
    requests_per_s: float
    placements: dict[str, int]


def rebalance_under_load(
    database: str, all_shapes: list[Shape], args: argparse.Namespace
) -> Rebalance:
    """Add a worker, then move shards to it with citus_rebalance_start() while wrk loads."""
    name = database.rsplit("/", 1)[-1]
    line = cluster("add-worker", name)
    port = int(line.split("127.0.0.1:")[1].split(";")[0])
    log(f"rebalance: started a worker on port {port}")
    tenants = list({shape.tenant.tenant_id: shape.tenant for shape in all_shapes}.values())
    keys = credentials(database, tenants)
    mixed = [s for s in all_shapes if "5000" not in s.name]
    requests, headers = _wrk_requests(keys, mixed)
    loads: list[Load] = []
    failures: list[str] = []
    done = threading.Event()
    with serve(database, NOW, log=DATA / "citus-bench-rebalance-server.log") as served:

        def keep_loading() -> None:
            while not done.is_set():
                try:
                    loads.append(
                        run_wrk(served.url, requests, connections=8, duration_s=5, headers=headers)
                    )
                except subprocess.CalledProcessError as exc:  # wrk itself failed: say so
                    failures.append(f"wrk exited {exc.returncode}: {exc.stderr or exc.stdout}")

        loader = threading.Thread(target=keep_loading, daemon=True)
        loader.start()
        time.sleep(5)  # load is running before the node joins
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
            started = time.perf_counter()
            conn.execute("SELECT citus_rebalance_start()")
            state = "running"
            while time.perf_counter() - started < args.rebalance_limit_s:
                row = conn.execute(
                    "SELECT state FROM citus_rebalance_status() ORDER BY job_id DESC LIMIT 1"
                ).fetchone()
                state = str(row[0]) if row else "none"
                if state not in ("scheduled", "running"):
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            counted = conn.execute(
                "SELECT nodeport::text, count(*) FROM citus_shards "
                "WHERE table_name = 'calls'::regclass GROUP BY 1 ORDER BY 1"
            ).fetchall()
        time.sleep(5)  # and keeps running after the move
        done.set()
        loader.join()
    total = sum(load.requests for load in loads)
    elapsed = sum(load.seconds for load in loads)
    return Rebalance(
        worker=f"127.0.0.1:{port}",
        seconds=seconds,
        state=state,
        requests=total,
        errors=sum(load.errors for load in loads) + len(failures),
        requests_per_s=total / elapsed if elapsed else 0.0,
        placements={str(port_): int(count) for port_, count in counted},
    )


def report(dataset: DataSet, sides: list[Side], rebalance: Rebalance | None) -> str:
    lines = [
        f"Data: {dataset.calls:,} calls, {dataset.tenants} tenants, {dataset.days} days "
        f"(largest tenant {dataset.largest.tenant_id}: {dataset.largest.calls:,} calls)",
        "",
        "| request shape | hits | " + " | ".join(f"{s.name} service p50 ms" for s in sides) + " |",
        "|---|---:|" + "---:|" * len(sides),
    ]
    for shape in sides[0].service_p50:
        cells = " | ".join(f"{side.service_p50[shape]:.1f}" for side in sides)
        lines.append(f"| {shape} | {sides[0].hits[shape]:,} | {cells} |")
    heads = " | ".join(f"{s.name} req/s (p50 ms, errors)" for s in sides)
    lines += ["", f"| connections | {heads} |", "|---:|" + "---:|" * len(sides)]
    for index, connections in enumerate((8, 32)):
        cells = " | ".join(
            f"{s.load[index].requests_per_s:,.1f} ({s.load[index].p50_ms:.0f}, "
            f"{s.load[index].errors})"
            for s in sides
        )
        lines.append(f"| {connections} | {cells} |")
    if rebalance is not None:
        lines += [
            "",
            f"Rebalance onto a third worker ({rebalance.worker}) under load at 8 connections: "
            f"{rebalance.state} in {rebalance.seconds:.1f} s; {rebalance.requests:,} requests "
            f"({rebalance.requests_per_s:,.1f} req/s), {rebalance.errors} errors. "
            "Shards of calls per worker port after: "
            + ", ".join(f"{port}: {count}" for port, count in rebalance.placements.items()),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--postgres", default=LOCAL_POSTGRES, help="the single server")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per shape")
    parser.add_argument("--load-seconds", type=int, default=15)
    parser.add_argument("--rebalance-limit-s", type=float, default=1800)
    parser.add_argument("--skip-rebalance", action="store_true")
    args = parser.parse_args()
    wrk_binary()
    cluster("status")
    dataset = DataSet(args.calls, args.tenants, args.days)
    source = build_duckdb(dataset)
    databases = {
        "PostgreSQL": build_postgres(dataset, args.postgres, source),
        "Citus": build_citus(dataset, source),
    }
    all_shapes = shapes(dataset.largest, dataset.small, partial(common_values, source))
    sides = [measure(name, url, all_shapes, args) for name, url in databases.items()]
    results: dict[str, object] = {
        "dataset": asdict(dataset),
        "sides": [asdict(side) for side in sides],
        "rebalance": None,
    }
    RESULTS.write_text(json.dumps(results, indent=1))
    print(report(dataset, sides, None), flush=True)
    if not args.skip_rebalance:
        rebalance = rebalance_under_load(databases["Citus"], all_shapes, args)
        results["rebalance"] = asdict(rebalance)
        RESULTS.write_text(json.dumps(results, indent=1))
        print(report(dataset, sides, rebalance))


if __name__ == "__main__":
    main()
