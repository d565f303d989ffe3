"""What each index of `calls` costs a bulk insert on PostgreSQL.

    .venv/bin/python -m bench.index_cost --database postgresql://.../db --tenant bigco01

Copies the tenant's calls into a temporary table, then times one INSERT of all of them into an
empty copy of `calls` without indexes, and again with each of the real table's indexes alone
(their definitions read from pg_indexes), and into `calls` itself with every index and trigger,
rolled back. The import can go no faster than the last figure, whatever the Python side does.
"""

from __future__ import annotations

import argparse
import re
import time

import psycopg

COPY = "calls_index_cost"


def timed_insert(conn: psycopg.Connection[tuple[object, ...]], target: str) -> float:
    started = time.perf_counter()
    conn.execute(f"INSERT INTO {target} SELECT * FROM staged")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL URL")
    parser.add_argument("--tenant", required=True)
    args = parser.parse_args()

    with psycopg.connect(args.database, autocommit=True) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls' ORDER BY 1"
        ).fetchall()
        conn.execute(
            "CREATE TEMP TABLE staged AS SELECT * FROM calls WHERE tenant_id = %s", (args.tenant,)
        )
        rows = conn.execute("SELECT count(*) FROM staged").fetchone()
        count = int(rows[0]) if rows else 0
        # Another tenant id: the rows must not collide with the originals in `calls`.
        conn.execute("UPDATE staged SET tenant_id = tenant_id || '-index-cost'")
        print(f"{count:,} calls of {args.tenant}\n")
        print("| insert into | seconds | calls/s |")
        print("|---|---:|---:|")

        def report(what: str, seconds: float) -> None:
            print(f"| {what} | {seconds:.2f} | {count / seconds:,.0f} |", flush=True)

        for name, definition in [("no index", None), *indexes]:
            conn.execute(f"DROP TABLE IF EXISTS {COPY}")
            conn.execute(f"CREATE TABLE {COPY} (LIKE calls INCLUDING DEFAULTS)")
            if definition is not None:
                on_copy = re.sub(r" ON (public\.)?calls ", f" ON {COPY} ", definition)
                conn.execute(on_copy.replace(f"INDEX {name} ", f"INDEX {name}_cost ", 1))
            report(f"a copy of calls, {name}", timed_insert(conn, COPY))
        conn.execute(f"DROP TABLE {COPY}")
        conn.execute("BEGIN")
        try:
            report("calls itself: every index and trigger", timed_insert(conn, "calls"))
        finally:
            conn.execute("ROLLBACK")
        conn.execute("VACUUM (ANALYZE) calls")  # the rolled back rows are dead: clean them up


if __name__ == "__main__":
    main()
