"""Distribute a migrated PostgreSQL schema over a Citus cluster.

Call data is sharded by tenant: `calls` and `sync_watermarks` are distributed by `tenant_id`
and colocated, so each tenant's calls and watermarks live in one shard group and every query
on them goes to one worker. Every other table of the schema (tenants, credentials, the audit
trail, the migration record) is small and becomes a reference table, copied to every node.

`distribute` runs on the coordinator, in the application's database, which must already hold
the `citus` extension with the workers registered (Citus does not propagate CREATE DATABASE:
the database and `CREATE EXTENSION citus` are needed on every node). It migrates the schema
first and may be run again at any time: tables already placed are left as they are, so a run
after an upgrade only places what a new migration added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from recent_calls.errors import DatabaseUnavailable, RecentCallsError
from recent_calls.storage import is_server_url, open_storage, redact

DISTRIBUTION_COLUMN = "tenant_id"
DISTRIBUTED = ("calls", "sync_watermarks", "directory")
"""Tables sharded by tenant, colocated with the first."""

# Plain PostgreSQL keeps calls per tenant and day with statement triggers on calls (migration
# 7). Citus runs no trigger of a distributed table that writes another table safely, so the
# counts and their triggers go before calls is distributed; PostgresStorage then counts hits
# from the index on each tenant's shard, which Citus routes to one worker.
_DAY_COUNTS = (
    "DROP TRIGGER IF EXISTS call_days_insert ON calls",
    "DROP TRIGGER IF EXISTS call_days_update_old ON calls",
    "DROP TRIGGER IF EXISTS call_days_update_new ON calls",
    "DROP TRIGGER IF EXISTS call_days_delete ON calls",
    "DROP FUNCTION IF EXISTS call_days_add()",
    "DROP FUNCTION IF EXISTS call_days_remove()",
    "DROP TABLE IF EXISTS call_days",
)


class NotCitus(RecentCallsError):
    """The database is not a Citus coordinator that can distribute the schema."""


@dataclass
class DistributeReport:
    """What `distribute` found and did, table by table."""

    citus_version: str
    workers: int
    distributed: list[str] = field(default_factory=list)
    """Tables this run distributed."""
    referenced: list[str] = field(default_factory=list)
    """Tables this run made reference tables."""
    unchanged: list[str] = field(default_factory=list)
    """Tables already placed as they should be."""
    dropped: list[str] = field(default_factory=list)
    """Tables of plain PostgreSQL that a distributed schema does without."""
    emptied: list[str] = field(default_factory=list)
    """Tables whose rows were copied to the nodes and removed from the coordinator's own table."""

    def lines(self) -> list[str]:
        made = [f"distributed {name} by {DISTRIBUTION_COLUMN}" for name in self.distributed]
        made += [f"reference table {name}" for name in self.referenced]
        made += [f"already in place: {name}" for name in self.unchanged]
        made += [
            f"dropped {name} (hits are counted on each tenant's shard)" for name in self.dropped
        ]
        made += [
            f"removed the coordinator's local copy of {name} (its rows are on the nodes now)"
            for name in self.emptied
        ]
        return made


Connection = psycopg.Connection[tuple[Any, ...]]


def _citus_version(conn: Connection, url: str) -> str:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()
    if row is not None:
        return str(row[0])
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'citus'"
    ).fetchone()
    where = redact(url)
    preload = conn.execute(
        "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'"
    ).fetchone()
    if available is None or (preload is not None and "citus" not in str(preload[0])):
        raise NotCitus(
            f"{where} is not a Citus server (it does not load the citus extension); "
            "distribute needs the coordinator of a Citus cluster"
        )
    raise NotCitus(
        f"the database at {where} has no citus extension: on every node, create the database "
        "and run CREATE EXTENSION citus, register the workers on the coordinator "
        "(SELECT citus_add_node(host, port)), then run distribute again"
    )


def _placements(conn: Connection) -> dict[str, tuple[str, int]]:
    """Each Citus table of the current schema: its method ('h' hash, 'n' reference) and group."""
    rows = conn.execute(
        "SELECT c.relname, p.partmethod, p.colocationid FROM pg_dist_partition p "
        "JOIN pg_class c ON c.oid = p.logicalrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace"
    ).fetchall()
    return {str(name): (str(method), int(group)) for name, method, group in rows}


def _tables(conn: Connection) -> list[str]:
    """The schema's tables, each after the tables its foreign keys point at."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') "
            "AND c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition "
            "ORDER BY c.relname"
        ).fetchall()
    ]
    edges = conn.execute(
        "SELECT src.relname, dst.relname FROM pg_constraint k "
        "JOIN pg_class src ON src.oid = k.conrelid JOIN pg_class dst ON dst.oid = k.confrelid "
        "WHERE k.contype = 'f' AND src.relnamespace = current_schema()::regnamespace"
    ).fetchall()
    needs: dict[str, set[str]] = {name: set() for name in names}
    for source, target in edges:
        if str(source) in needs and str(target) != str(source):
            needs[str(source)].add(str(target))
    return _ordered(names, needs)


def _ordered(names: Iterable[str], needs: dict[str, set[str]]) -> list[str]:
    done: list[str] = []
    pending = list(names)
    while pending:
        ready = [name for name in pending if needs.get(name, set()) <= set(done)]
        if not ready:  # a cycle of foreign keys: Citus sorts it out or says why not
            ready = pending[:1]
        for name in ready:
            done.append(name)
            pending.remove(name)
    return done


def distribute(url: str, *, shard_count: int | None = None) -> DistributeReport:
    """Make the schema at `url` (a Citus coordinator) distributed by tenant; idempotent.

    `shard_count` sets the number of shards of the new colocation group of `calls` (Citus'
    `citus.shard_count`, 32 by default); it is ignored once `calls` is distributed.
    """
    if not is_server_url(url):
        raise NotCitus(
            f"distribute needs the postgresql:// URL of a Citus coordinator, not {url!r}"
        )
    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to {redact(url)}: {exc}".strip()) from None
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        version = _citus_version(conn, url)
        coordinator = conn.execute("SELECT citus_is_coordinator()").fetchone()
        if coordinator is None or not coordinator[0]:
            raise NotCitus(
                f"{redact(url)} is a Citus worker, or a node with no coordinator registered "
                "(SELECT citus_set_coordinator_host(host, port) on the coordinator): "
                "run distribute against the coordinator"
            )
    # The schema first: distribution works on the tables the migrations make.
    open_storage(url, pool_size=1).close()
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        workers_row = conn.execute(
            "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND isactive "
            "AND groupid <> 0"
        ).fetchone()
        report = DistributeReport(version, int(workers_row[0]) if workers_row else 0)
        placed = _placements(conn)
        with conn.transaction():
            # One transaction, so a failure leaves nothing half placed; credentials' foreign key
            # to tenants makes Citus need one connection per node for all of it.
            conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
            if shard_count is not None:
                conn.execute(
                    "SELECT set_config('citus.shard_count', %s, true)", (str(shard_count),)
                )
            if "calls" not in placed and _has(conn, "call_days"):
                for statement in _DAY_COUNTS:
                    conn.execute(statement)
                report.dropped.append("call_days")
            _distribute(conn, placed, report)
            for name in _tables(conn):
                if name in DISTRIBUTED:
                    continue
                if name in placed:
                    report.unchanged.append(name)
                    continue
                _note_local_rows(conn, name, report)
                conn.execute("SELECT create_reference_table(%s)", (name,))
                report.referenced.append(name)
        # Citus copies the rows of a table it places to the nodes and leaves the originals in
        # the coordinator's local table, unread but taking room. Remove them once every table
        # is placed (a foreign key from a table still local would refuse it), the tables that
        # point at others first.
        for name in reversed(_tables(conn)):
            if name in report.emptied:
                conn.execute("SELECT truncate_local_data_after_distributing_table(%s)", (name,))
    return report


def _note_local_rows(conn: Connection, table: str, report: DistributeReport) -> None:
    """Before `table` is placed (a plain local table still): note it if it holds rows."""
    found = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table))
    ).fetchone()
    if found and found[0]:
        report.emptied.append(table)


def _has(conn: Connection, table: str) -> bool:
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(found and found[0])


def _distribute(
    conn: Connection, placed: dict[str, tuple[str, int]], report: DistributeReport
) -> None:
    anchor = DISTRIBUTED[0]
    for name in DISTRIBUTED:
        current = placed.get(name)
        if current is None:
            colocate = "default" if name == anchor else anchor
            _note_local_rows(conn, name, report)
            conn.execute(
                "SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                (name, DISTRIBUTION_COLUMN, colocate),
            )
            report.distributed.append(name)
            placed.update(_placements(conn))
            continue
        method, group = current
        if method != "h":
            raise NotCitus(
                f"{name} is already a Citus table of another kind ({_kind(method)}); "
                f"undistribute it (SELECT undistribute_table('{name}')) and run distribute again"
            )
        if name != anchor and group != placed[anchor][1]:
            conn.execute(
                sql.SQL(
                    "SELECT update_distributed_table_colocation({}, colocate_with => {})"
                ).format(sql.Literal(name), sql.Literal(anchor))
            )
            report.distributed.append(name)
            continue
        report.unchanged.append(name)


def _kind(method: str) -> str:
    return {"n": "a reference or single-shard table", "a": "append-distributed"}.get(
        method, f"partition method {method!r}"
    )
