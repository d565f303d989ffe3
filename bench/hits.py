"""Exact `hits` over a whole large tenant on PostgreSQL: the service's answer against count(*).

    python -m bench.hits                  # 3M calls in one tenant over two years
    python -m bench.hits --calls 1000000

Fills a fresh database straight from SQL (generate_series: only start times and ids matter to a
count), VACUUM ANALYZEs it, then times `Storage.search` (hits plus a 1-row page, which reads the
per-day counts of migration 7) beside the plain exact `SELECT count(*)` the engine would
otherwise run, for all history and for a 30-day window with partial days at both ends.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from recent_calls.query.request import parse_request
from recent_calls.storage import open_storage
from recent_calls.storage.base import Tenant

from .common import postgres_database
from .dataset import END_MS

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = 86_400_000
COLUMNS = (
    "call_duration, agent_handling, time_in_ivr, hold_duration, max_hold, wait_time, abandon_time,"
    " transfer_count, mute_duration, agent_hold_count, agent_mute_count, queue_ids, agent_ids,"
    " agent_groups, transaction_id, caller_name, caller_number, caller_name_key,"
    " caller_number_key, dialed_number, schedule_hours, call_type, call_sub_type, hungup_by,"
    " post_call_survey, voice_comment, total_score, destination_number,"
    " voice_comment_file_names, caller_phone_number"
)
VALUES = "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}', '{}', '{}'" + ", ''" * 16


def timed(work: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--postgres", default=LOCAL_POSTGRES)
    args = parser.parse_args()
    span = 730 * DAY
    with postgres_database(args.postgres, "rc_bench_hits") as url:
        storage = open_storage(url)
        storage.create_tenant("big", "us")
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(
                f"INSERT INTO calls (tenant_id, call_id, start_ms, {COLUMNS}) "
                f"SELECT 'big', 'c' || n, {END_MS - span} + n::bigint * {span // args.calls}, "
                f"{VALUES} FROM generate_series(1, %(n)s) AS n",
                {"n": args.calls},
            )
            print(f"inserted {args.calls} calls in {time.perf_counter() - started:.1f} s")
            conn.execute("VACUUM (ANALYZE) calls")
            conn.execute("VACUUM (ANALYZE) call_days")
            windows = {
                "all history": "",
                "30 days, partial edges": f" AND start_ms >= {END_MS - 30 * DAY - 4321} "
                f"AND start_ms <= {END_MS - 1234}",
            }
            bodies = {
                "all history": {"duration": "allhistory"},
                "30 days, partial edges": {
                    "timeRange": f"{END_MS - 30 * DAY - 4321}-{END_MS - 1234}"
                },
            }
            tenant = Tenant("big", "us", 0)
            print("| window | hits | service search p50 ms | plain count(*) p50 ms |")
            print("|---|---:|---:|---:|")
            for name, condition in windows.items():
                query = parse_request({"tenantId": "big", "page": 1, "rows": 1, **bodies[name]}, 0)
                hits = storage.search(tenant, query).hits
                plain = conn.execute(
                    f"SELECT count(*) FROM calls WHERE tenant_id = 'big'{condition}"
                ).fetchall()[0][0]
                assert hits == plain, (name, hits, plain)
                service = timed(lambda q=query: storage.search(tenant, q), args.runs)
                raw = timed(
                    lambda c=condition: conn.execute(
                        f"SELECT count(*) FROM calls WHERE tenant_id = 'big'{c}"
                    ).fetchall(),
                    args.runs,
                )
                print(f"| {name} | {hits:,} | {service:.1f} | {raw:.1f} |")
        storage.close()


if __name__ == "__main__":
    main()
