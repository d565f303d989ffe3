"""What the search indexes of `calls` cost the whole PostgreSQL import, layout by layout.

    .venv/bin/python -m bench.import_indexes --postgres postgresql://.../postgres \\
        --source bench/data/run-bigco01-1000000.jsonl --rounds 2

Each round imports the file with `recent-calls import` (the whole command, as bench.run times
it) into a new database per layout, the layouts taking turns so that a machine whose speed
drifts weighs on each alike. A layout changes only the GIN indexes after the schema is made:

- today's: the schema as it is (five GIN indexes, each led by tenant_id);
- without trigram: without the two trigram indexes of the caller search;
- without lists: without the three indexes of agents, queues and groups;
- without tenant: the five GIN indexes without tenant_id in them;
- callers apart: the caller search through tables of each tenant's distinct caller keys (with
  the trigram indexes), kept by statement triggers like the per-day counts, and a b-tree on
  each caller key of `calls` to find the calls of the keys found; the lever the performance
  issue proposed for the import.

It prints the import's seconds and calls/s per layout and round, and the server's WAL. bench.
index_cost times one INSERT per index instead; this is what the import command sees.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.common import postgres_database
from bench.imports import create_tenant, time_import

TENANT = "bigco01"
_TRIGRAM = ("caller_name_key", "caller_number_key")
_LISTS = ("agent_ids", "queue_ids", "agent_groups")
Connection = psycopg.Connection[tuple[object, ...]]


def _name(column: str) -> str:
    return f"calls_{column}_trgm" if column in _TRIGRAM else f"calls_{column}"


def _drop(conn: Connection, columns: tuple[str, ...]) -> None:
    for column in columns:
        conn.execute(f"DROP INDEX {_name(column)}")


def _without_tenant(conn: Connection) -> None:
    _drop(conn, _TRIGRAM + _LISTS)
    for column in _TRIGRAM + _LISTS:
        ops = " gin_trgm_ops" if column in _TRIGRAM else ""
        conn.execute(f"CREATE INDEX {_name(column)} ON calls USING gin ({column}{ops})")


def _callers_apart(conn: Connection) -> None:
    _drop(conn, _TRIGRAM)
    for column in _TRIGRAM:
        conn.execute(f"CREATE INDEX calls_{column} ON calls (tenant_id, {column})")
        conn.execute(
            f'CREATE TABLE {column}s (tenant_id text COLLATE "C" NOT NULL, key text NOT NULL, '
            "PRIMARY KEY (tenant_id, key))"
        )
        conn.execute(
            f"CREATE INDEX {column}s_trgm ON {column}s USING gin (tenant_id, key gin_trgm_ops)"
        )
    added = "; ".join(
        f"INSERT INTO {column}s SELECT DISTINCT tenant_id, {column} FROM added ORDER BY 1, 2 "
        "ON CONFLICT DO NOTHING"
        for column in _TRIGRAM
    )
    conn.execute(
        "CREATE FUNCTION callers_add() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {added}; RETURN NULL; END $$"
    )
    for event in ("INSERT", "UPDATE"):
        conn.execute(
            f"CREATE TRIGGER callers_{event.lower()} AFTER {event} ON calls "
            "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION callers_add()"
        )


LAYOUTS: dict[str, Callable[[Connection], None]] = {
    "today's": lambda conn: None,
    "without trigram": lambda conn: _drop(conn, _TRIGRAM),
    "without lists": lambda conn: _drop(conn, _LISTS),
    "without tenant": _without_tenant,
    "callers apart": _callers_apart,
}


def _wal_bytes(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--source", type=Path, default=Path("bench/data/run-bigco01-1000000.jsonl"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--layout", action="append", choices=sorted(LAYOUTS), help="repeatable")
    args = parser.parse_args()
    with args.source.open("rb") as lines:
        count = sum(1 for _ in lines)
    print(f"`recent-calls import` of {count:,} lines ({args.source.name})\n")
    print("| round | layout | seconds | calls/s | CPU of the command, s | WAL, GB |")
    print("|---:|---|---:|---:|---:|---:|")
    for round_number in range(1, args.rounds + 1):
        for layout in args.layout or list(LAYOUTS):
            with postgres_database(args.postgres, "recent_calls_import_indexes") as url:
                create_tenant(url, TENANT)
                with psycopg.connect(url, autocommit=True) as conn:
                    LAYOUTS[layout](conn)
                wal = _wal_bytes(url)
                timed = time_import(url, args.source, tenant=TENANT)
                wal = _wal_bytes(url) - wal
            print(
                f"| {round_number} | {layout} | {timed.seconds:.1f} | "
                f"{count / timed.seconds:,.0f} | {timed.cpu_s:.1f} | {wal / 1e9:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
