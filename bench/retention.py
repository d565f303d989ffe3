"""A retention run on a large tenant: its time, the queries beside it, and exact hits after.

    python -m bench.retention                       # 1M calls over two years, both engines
    python -m bench.retention --calls 200000 --engine duckdb

Fills a fresh database straight from SQL (only start times and ids matter here), sets a
400-day retention, and runs it (`admin/retention.py`, batches of 10,000) while another thread
asks for a 24 h page of 100 over and over. Reports the run's time and calls deleted, the
page's p50 and worst time during the run, and whether the service's `hits` for all history and
for a 30-day window equal a plain count(*) afterwards (on PostgreSQL, also the per-day counts).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from recent_calls.admin.local import LocalAdmin
from recent_calls.admin.retention import DAY_MS, apply_retention
from recent_calls.query.request import parse_request
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage, Tenant

from .common import postgres_database
from .dataset import END_MS
from .hits import COLUMNS, LOCAL_POSTGRES

SPAN_DAYS = 730


def fill(storage: Storage, calls: int) -> None:
    span = SPAN_DAYS * DAY_MS
    empty = "[]" if storage.engine == "duckdb" else "'{}'"
    values = "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, " + ", ".join([empty] * 3) + ", ''" * 16
    series = (
        "range(1, $n + 1) AS r(n)"
        if storage.engine == "duckdb"
        else ("generate_series(1::bigint, %(n)s) AS n")
    )
    sql = (
        f"INSERT INTO calls (tenant_id, call_id, start_ms, {COLUMNS}) "
        f"SELECT 'big', 'c' || n, {END_MS - span} + n * {span // calls}, {values} FROM {series}"
    )
    storage._write(lambda run: run(sql, {"n": calls}))


def hits(storage: Storage, **window: str) -> int:
    query = parse_request({"tenantId": "big", "page": 1, "rows": 1, **window}, END_MS)
    return storage.search(Tenant("big", "us", 0), query).hits


def count(storage: Storage, where: str = "") -> int:
    sql = f"SELECT count(*) FROM calls WHERE tenant_id = 'big'{where}"
    return int(storage._read(lambda run: run(sql, {}))[0][0])


def measure(url: str, calls: int) -> None:
    storage = open_storage(url, clock=lambda: END_MS)
    try:
        storage.create_tenant("big", "us")
        started = time.perf_counter()
        fill(storage, calls)
        print(f"  filled {calls:,} calls in {time.perf_counter() - started:.1f} s")
        LocalAdmin(storage, lambda: END_MS, actor="bench").set_retention("big", "400d")
        expected = count(storage, f" AND start_ms < {END_MS - 400 * DAY_MS}")
        page = parse_request(
            {"tenantId": "big", "page": 1, "rows": 100, "timeRange": f"{END_MS - DAY_MS}-{END_MS}"},
            END_MS,
        )
        samples: list[float] = []
        done = threading.Event()

        def query() -> None:
            while not done.is_set():
                begun = time.perf_counter()
                storage.search(Tenant("big", "us", 0), page)
                samples.append((time.perf_counter() - begun) * 1000)

        reader = threading.Thread(target=query)
        reader.start()
        started = time.perf_counter()
        deleted = apply_retention(storage, lambda: END_MS, "bench")["big"]
        took = time.perf_counter() - started
        done.set()
        reader.join()
        print(f"  retention 400d: deleted {deleted:,} calls in {took:.1f} s "
              f"({deleted / took:,.0f} calls/s); expected {expected:,}")  # fmt: skip
        print(f"  24 h page during the run: {len(samples)} queries, "
              f"p50 {statistics.median(samples):.1f} ms, worst {max(samples):.1f} ms")  # fmt: skip
        left = count(storage)
        window = f"{END_MS - 30 * DAY_MS - 4321}-{END_MS - 1234}"
        in_window = count(storage, f" AND start_ms >= {END_MS - 30 * DAY_MS - 4321} "
                                   f"AND start_ms <= {END_MS - 1234}")  # fmt: skip
        started = time.perf_counter()
        all_hits = hits(storage, duration="allhistory")
        hits_ms = (time.perf_counter() - started) * 1000
        window_hits = hits(storage, timeRange=window)
        print(f"  after: hits all history {all_hits:,} ({hits_ms:.1f} ms), count(*) {left:,}; "
              f"30-day window hits {window_hits:,}, count(*) {in_window:,}")  # fmt: skip
        if storage.engine != "duckdb":
            days = storage._read(
                lambda run: run("SELECT sum(calls) FROM call_days WHERE tenant_id = 'big'", {})
            )[0][0]
            print(f"  per-day counts (call_days) sum {int(days):,}")
        exact = all_hits == left and window_hits == in_window
        print(f"  exact: {'yes' if exact and deleted == expected else 'NO'}")
    finally:
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["duckdb", "postgres", "both"], default="both")
    parser.add_argument("--postgres", default=LOCAL_POSTGRES)
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.engine in ("duckdb", "both"):
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            print("DuckDB")
            measure(str(Path(folder) / "retention.duckdb"), args.calls)
        if args.engine in ("postgres", "both"):
            url = stack.enter_context(postgres_database(args.postgres, "rc_bench_retention"))
            print("PostgreSQL")
            measure(url, args.calls)


if __name__ == "__main__":
    main()
