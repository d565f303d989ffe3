"""`recent-calls distribute`: refused where there is no Citus; on Citus (scripts/test-citus), the
schema distributed by tenant, colocated, the rest reference tables, and run again harmlessly.

The tests that need a Citus cluster are collected only when the suite runs on one
(RECENT_CALLS_TEST_CITUS=1, which scripts/test-citus sets); the refusals run everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from recent_calls.cli.main import main
from recent_calls.storage import open_storage
from recent_calls.storage.citus import DISTRIBUTED, NotCitus, distribute
from tests.calls import make_call, rows_of
from tests.pg import (
    citus_mode,
    fresh_database,
    migrated_template,
    postgres_server,
    start_throwaway_cluster,
)

START = 1700000000000


@pytest.fixture(scope="module")
def plain_server() -> str:
    """A PostgreSQL server without Citus: the test server, or a throwaway one on Citus runs."""
    return start_throwaway_cluster() if citus_mode() else postgres_server()


@pytest.fixture
def plain_url(plain_server: str) -> Iterator[str]:
    with fresh_database(plain_server) as url:
        yield url


def test_distribute_refuses_a_postgres_server_without_citus(plain_url: str) -> None:
    with pytest.raises(NotCitus, match=r"not a Citus server|no citus extension"):
        distribute(plain_url)
    result = CliRunner().invoke(main, ["distribute", "--database", plain_url])
    assert result.exit_code == 1
    assert "Citus" in result.output or "citus" in result.output
    assert "Traceback" not in result.output
    with psycopg.connect(plain_url) as conn:  # and it changed nothing there
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'calls'").fetchall()
    assert tables == [(0,)]


def test_distribute_refuses_an_embedded_database(tmp_path: Any) -> None:
    path = str(tmp_path / "calls.duckdb")
    result = CliRunner().invoke(main, ["distribute", "--database", path])
    assert result.exit_code == 1
    assert "postgresql:// URL of a Citus coordinator" in result.output


if citus_mode():

    def placements(url: str) -> dict[str, tuple[str, str, int]]:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT c.relname, p.partmethod, coalesce(column_to_column_name("
                "p.logicalrelid, p.partkey), ''), p.colocationid FROM pg_dist_partition p "
                "JOIN pg_class c ON c.oid = p.logicalrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace"
            ).fetchall()
        return {str(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in rows}

    def test_distribute_on_citus_postgres_shards_calls_by_tenant_and_is_idempotent() -> None:
        with fresh_database() as url:  # an empty schema: distribute migrates it first
            first = distribute(url)
            assert sorted(first.distributed) == sorted(DISTRIBUTED)
            assert set(first.referenced) == {
                "tenants",
                "credentials",
                "audit_log",
                "schema_migrations",
                "erasure_salt",
            }
            assert first.dropped == ["call_days"]  # plain PostgreSQL's day counts
            placed = placements(url)
            assert placed["calls"][:2] == ("h", "tenant_id")
            assert placed["sync_watermarks"][:2] == ("h", "tenant_id")
            assert placed["calls"][2] == placed["sync_watermarks"][2]  # colocated
            for name in first.referenced:
                assert placed[name][0] == "n", name
            again = distribute(url)
            assert (again.distributed, again.referenced) == ([], [])
            assert sorted(again.unchanged) == sorted(placed)
            assert placements(url) == placed
            result = CliRunner().invoke(main, ["distribute", "--database", url])
            assert result.exit_code == 0, result.output
            assert "already in place: calls" in result.output

    def test_distributing_keeps_the_calls_already_stored_postgres() -> None:
        with fresh_database() as url:
            store = open_storage(url)
            try:
                store.create_tenant("acme", "us")
                store.upsert_calls("acme", rows_of(make_call("a", START), make_call("b", START)))
            finally:
                store.close()
            distribute(url)
            store = open_storage(url)
            try:
                assert store.count_calls("acme") == 2
                again = store.upsert_calls("acme", rows_of(make_call("b", START)))
                assert (again.inserted, again.replaced) == (0, 1)
            finally:
                store.close()

    def test_a_tenants_statements_go_to_one_shard_postgres() -> None:
        with fresh_database(template=migrated_template()) as url:
            with psycopg.connect(url) as conn:
                plan = "\n".join(
                    str(row[0])
                    for row in conn.execute(
                        "EXPLAIN SELECT count(*) FROM calls WHERE tenant_id = 'acme'"
                    ).fetchall()
                )
            assert "Task Count: 1" in plan, plan

    def test_import_counts_on_citus_postgres_are_exact() -> None:
        with fresh_database(template=migrated_template()) as url:
            store = open_storage(url)
            try:
                store.create_tenant("acme", "us")
                store.upsert_calls("acme", rows_of(make_call("old", START)))
                with store.begin_import("acme") as staged:
                    staged.add(rows_of(make_call("a", START), make_call("b", START)))
                    staged.add(
                        rows_of(*(make_call(c, START + 1) for c in ["a", "b", "old", "c", "d"]))
                    )
                    result = staged.commit()
                assert (result.received, result.inserted, result.replaced) == (7, 4, 1)
            finally:
                store.close()
