"""The PostgreSQL engine on a real server: schema, tenants, imports, failures, and searches that
answer exactly what the DuckDB engine answers for the same data."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from psycopg import sql

from recent_calls.api.problems import as_problem
from recent_calls.demo import generate_calls
from recent_calls.errors import DatabaseUnavailable, ImportRejected, QueryTimeout
from recent_calls.fields import SORT_COLUMNS
from recent_calls.ingest.bulk import import_lines
from recent_calls.query.request import parse_request
from recent_calls.settings import Settings
from recent_calls.storage import open_storage, postgres_store
from recent_calls.storage.base import Rows, Run, Storage
from recent_calls.storage.citus import _DAY_COUNTS
from recent_calls.storage.migrations import MIGRATIONS
from recent_calls.storage.postgres_store import PostgresStorage
from tests.calls import bound, make_call, rows_of, stored
from tests.pg import NoPostgres, fresh_database, postgres_server, start_throwaway_cluster

NOW = 1710345600000  # 2024-03-13T16:00:00Z
START = 1700000000000
DAY = 86_400_000


@pytest.fixture(scope="session")
def pg_server() -> str:
    return postgres_server()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        yield url


def open_pg(url: str, **options: Any) -> PostgresStorage:
    if options:
        store = PostgresStorage(url, **options)
        store.migrate()
        return store
    opened = open_storage(url)
    assert isinstance(opened, PostgresStorage)
    return opened


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStorage]:
    store = open_pg(pg_url)
    yield store
    store.close()


def admin(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(url, autocommit=True)


# -- schema --------------------------------------------------------------------------------------


def test_migrations_apply_once_and_are_recorded(pg_url: str) -> None:
    first = PostgresStorage(pg_url)
    try:
        assert first.migrate() == [step.version for step in MIGRATIONS]
        assert first.migrate() == []
        assert first.schema_version() == MIGRATIONS[-1].version
    finally:
        first.close()
    again = open_pg(pg_url)  # a second process opening the same database applies nothing
    try:
        assert again.migrate() == []
    finally:
        again.close()
    with admin(pg_url) as conn:
        recorded = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    assert recorded == [(step.version, step.name) for step in MIGRATIONS]
    assert {"pg_trgm", "btree_gin"} <= extensions


def test_processes_migrating_at_once_take_turns(pg_url: str) -> None:
    stores = [PostgresStorage(pg_url) for _ in range(3)]
    applied: list[list[int]] = []
    failures: list[BaseException] = []

    def migrate(store: PostgresStorage) -> None:
        try:
            applied.append(store.migrate())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert failures == []
    assert sorted(applied) == [[], [], [step.version for step in MIGRATIONS]]


def index_definitions(url: str) -> dict[str, str]:
    with admin(url) as conn:
        return dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls'"
            ).fetchall()
        )


def test_every_index_on_calls_leads_with_the_tenant(pg: PostgresStorage, pg_url: str) -> None:
    indexes = index_definitions(pg_url)
    assert set(indexes) == {
        "calls_pkey",
        "calls_by_start",
        "calls_caller_name_key_trgm",
        "calls_caller_number_key_trgm",
        "calls_agent_ids",
        "calls_queue_ids",
        "calls_agent_groups",
    }
    for name, definition in indexes.items():
        assert re.search(r"\((tenant_id)\b", definition), (name, definition)
    assert "gin_trgm_ops" in indexes["calls_caller_name_key_trgm"]


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_without_the_extensions_the_engine_warns_and_still_works(
    pg_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A role that may not create extensions stands for a server that lacks them.
    role, password = f"rc_plain_{secrets.token_hex(4)}", secrets.token_hex(8)
    with admin(pg_server) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        with fresh_database(pg_server) as url:
            with admin(url) as conn:
                conn.execute(
                    sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role))
                )
            with caplog.at_level(logging.WARNING, logger="recent_calls.storage.postgres_store"):
                store = open_pg(with_user(url, role, password))
            try:
                assert "extension pg_trgm is not available" in caplog.text
                assert "extension btree_gin is not available" in caplog.text
                indexes = index_definitions(url)
                assert not any("trgm" in name for name in indexes)
                assert "(agent_ids)" in indexes["calls_agent_ids"]
                store.create_tenant("acme", "us")
                import_lines(
                    store,
                    "acme",
                    [make_call("a", START, callerName="Ömer Öz"), make_call("b", START)],
                )
                found = store.search(bound("acme"), request("acme", callerName=["ömer"]))
                assert (found.hits, [row[0] for row in found.rows]) == (1, ["a"])
            finally:
                store.close()
    finally:
        with admin(pg_server) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# -- tenants and credentials ---------------------------------------------------------------------


# -- imports -------------------------------------------------------------------------------------


def _explained_plans(pg: PostgresStorage, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The plan of every query an import runs from here on (its COPY and DDL aside)."""
    plans: list[str] = []
    original = pg._runner

    def runner(conn: psycopg.Connection[tuple[Any, ...]]) -> Run:
        run = original(conn)

        def explained(statement: str, params: dict[str, Any]) -> Rows:
            if statement.startswith(("WITH", "SELECT")):
                plans.append("\n".join(row[0] for row in run("EXPLAIN " + statement, params)))
            return run(statement, params)

        return explained

    monkeypatch.setattr(pg, "_runner", runner)
    return plans


def assert_no_loop_over_calls(plans: list[str]) -> None:
    for plan in plans:
        # A join on callId must be a hash or an index lookup: a join filter means a nested loop
        # comparing every batch row with every stored call, quadratic in the import's size; so
        # does a subquery run once per row.
        assert not re.search(r"Join Filter: .*call_id", plan), plan
        assert "SubPlan" not in plan, plan
        assert "xmin" not in plan, plan


def test_later_batches_find_earlier_ones_by_key_not_by_a_loop_over_all_calls(
    pg: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg.create_tenant("acme", "us")
    plans = _explained_plans(pg, monkeypatch)
    template = rows_of(make_call("template", START))[0]
    with pg.begin_import("acme") as staged:
        for batch in range(2):  # the plan depends on sizes: these are import_lines' batches
            staged.add([(f"b{batch}-{i}", *template[1:]) for i in range(20_000)])
        staged.commit()
    # Per batch: which rows have a version, the upsert, and noting its callIds as this import's.
    assert len(plans) == 6
    assert_no_loop_over_calls(plans)


def test_versioned_batches_find_kept_calls_by_key_not_by_a_loop(
    pg: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg.create_tenant("acme", "us")
    template = rows_of(make_call("template", START, sourceVersion=10))[0]
    ids = [f"c{i}" for i in range(20_000)]
    pg.upsert_calls("acme", [(call_id, *template[1:]) for call_id in ids])
    plans = _explained_plans(pg, monkeypatch)
    with pg.begin_import("acme") as staged:
        # Older than stored: all kept; then as new: all replaced after all; then rows without a
        # version before and after versioned ones of the same callIds.
        staged.add([(call_id, *template[1:-1], 5) for call_id in ids])
        staged.add([(call_id, *template[1:]) for call_id in ids])
        staged.add(
            [(call_id, *template[1:-1], None) for call_id in ids[::2]]
            + [(call_id, *template[1:-1], 7) for call_id in ids]
            + [(call_id, *template[1:-1], None) for call_id in ids[::4]]
        )
        result = staged.commit()
    assert (result.inserted, result.replaced, result.kept) == (0, 20_000, 0)
    assert len(plans) > 10
    assert_no_loop_over_calls(plans)


def test_compaction_refreshes_statistics_after_large_changes(
    pg: PostgresStorage, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg.create_tenant("acme", "us")
    monkeypatch.setattr("recent_calls.storage.postgres_store.VACUUM_MIN_ROWS", 500)
    import_lines(pg, "acme", seeded_calls(300, seed=1))
    assert pg.maybe_compact() is False
    import_lines(pg, "acme", seeded_calls(300, seed=2))
    assert pg.maybe_compact() is True
    assert pg.maybe_compact() is False
    with admin(pg_url) as conn:
        analysed = conn.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'calls'"
        ).fetchall()
    assert analysed == [(True,)]
    assert pg.count_calls("acme") == 600


def staged_tables(url: str) -> list[str]:
    with admin(url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'staged%' AND relkind = 'r'"
            ).fetchall()
        ]


def test_an_aborted_import_leaves_no_staging_table(pg: PostgresStorage, pg_url: str) -> None:
    pg.create_tenant("acme", "us")
    staged = pg.begin_import("acme")
    staged.add(rows_of(*(make_call(f"c{i}", START) for i in range(100))))
    staged.abort()
    with pytest.raises(ImportRejected):
        import_lines(pg, "acme", [make_call("y", START), {"callId": "bad"}])
    assert staged_tables(pg_url) == []


def test_a_failing_batch_fails_the_import_and_the_pool_recovers(pg: PostgresStorage) -> None:
    pg.create_tenant("acme", "us")
    good = rows_of(make_call("good", START))
    bad = [(*good[0][:17], "NUL \x00 in a name", *good[0][18:])]
    staged = pg.begin_import("acme")
    staged.add(good)
    staged.add(bad)
    with pytest.raises(psycopg.DataError):
        staged.commit()
    staged.abort()
    assert pg.count_calls("acme") == 0
    assert pg.upsert_calls("acme", good).inserted == 1


# -- an import larger than the table: secondary indexes built at commit ---------------------------


def _index_definitions(url: str) -> list[str]:
    with admin(url) as conn:
        found = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'calls' ORDER BY indexname"
        ).fetchall()
    return [str(row[0]) for row in found]


Bulk = tuple[list[list[str]], list[str]]


def _returns_of(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """What each call of `_PostgresImport.<method>(conn)` returned (a spy: the real one runs)."""
    returned: list[Any] = []
    real = getattr(postgres_store._PostgresImport, method)

    def spied(self: Any, conn: Any) -> Any:
        returned.append(real(self, conn))
        return returned[-1]

    monkeypatch.setattr(postgres_store._PostgresImport, method, spied)
    return returned


@pytest.fixture
def bulk(pg: PostgresStorage, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Bulk:
    """Tenant acme, and imports that switch to building the indexes at commit from 2 calls on:
    what each switch returned (a spy: the real method runs; an import that never reached
    BULK_MIN_ROWS leaves nothing), and the table's index definitions before any import."""
    monkeypatch.setattr(postgres_store, "BULK_MIN_ROWS", 2)
    decisions = _returns_of(monkeypatch, "_build_indexes_at_commit")
    pg.create_tenant("acme", "us")
    return decisions, _index_definitions(pg_url)


def _three_batches(pg: PostgresStorage) -> Any:
    """The import of `test_a_batch_that_inserts_and_replaces_this_imports_calls_counts_each_once`,
    repeats and a call stored before it included; its result."""
    with pg.begin_import("acme") as staged:
        staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
        staged.add(
            rows_of(
                make_call("a", START + 2, callerName="Ada Last"),
                make_call("b", START + 3),
                make_call("old", START + 4),
                make_call("c", START + 5),
                make_call("d", START + 6),
            )
        )
        staged.add(rows_of(make_call("d", START + 7), make_call("e", START + 8)))
        return staged.commit()


def test_an_import_larger_than_the_table_builds_its_secondary_indexes_once_at_commit(
    pg: PostgresStorage, pg_url: str, bulk: Bulk
) -> None:
    decisions, before = bulk
    pg.upsert_calls("acme", rows_of(make_call("old", START)))
    result = _three_batches(pg)
    assert len(decisions) == 1 and len(decisions[0]) == len(before) - 1  # all but the key
    assert (result.received, result.inserted, result.replaced) == (9, 5, 1)
    assert _index_definitions(pg_url) == before
    calls = stored(pg, "acme")
    assert sorted(calls) == ["a", "b", "c", "d", "e", "old"]
    assert calls["a"][1:3] == (START + 2, "Ada Last") and calls["d"][1] == START + 7
    # The rebuilt caller index answers a substring search.
    query = request("acme", callerName=["a last"])
    assert [row.call_id for row in pg.search(bound("acme"), query).page.rows()] == ["a"]


def test_a_bulk_import_rolled_back_leaves_the_table_and_its_indexes_as_they_were(
    pg: PostgresStorage, pg_url: str, bulk: Bulk
) -> None:
    decisions, before = bulk
    good = rows_of(make_call("c", START + 2))
    staged = pg.begin_import("acme")
    staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
    staged.add(good)
    staged.add([(*good[0][:17], "NUL \x00 in a name", *good[0][18:])])  # the server refuses it
    with pytest.raises(psycopg.DataError):
        staged.commit()
    staged.abort()
    assert decisions and decisions[0]  # the indexes had been dropped
    assert _index_definitions(pg_url) == before
    assert pg.count_calls("acme") == 0
    assert pg.upsert_calls("acme", rows_of(make_call("a", START))).inserted == 1


def test_an_import_stays_incremental_while_another_session_uses_the_table(
    pg: PostgresStorage, pg_url: str, bulk: Bulk
) -> None:
    decisions, before = bulk
    pg.upsert_calls("acme", rows_of(make_call("old", START)))
    with psycopg.connect(pg_url) as reader:  # a transaction holding a read lock on calls
        reader.execute("SELECT count(*) FROM calls").fetchone()
        result = _three_batches(pg)
        reader.rollback()
    assert decisions == [[]]  # the lock was not free: nothing dropped, the import went on
    assert (result.received, result.inserted, result.replaced) == (9, 5, 1)
    assert _index_definitions(pg_url) == before
    assert stored(pg, "acme")["a"][1] == START + 2


@pytest.fixture
def plain_inserts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each plain INSERT an import builds (`_insert_sql`) sorts out repeated callIds."""
    made: list[bool] = []
    real = postgres_store._insert_sql

    def spied(rows: str, order: str, *, repeats: bool) -> str:
        made.append(repeats)
        return real(rows, order, repeats=repeats)

    monkeypatch.setattr(postgres_store, "_insert_sql", spied)
    return made


def test_once_alone_with_the_tenant_an_import_inserts_without_the_key_and_keeps_last_copies(
    pg: PostgresStorage, pg_url: str, bulk: Bulk, plain_inserts: list[bool]
) -> None:
    """Switched, with the table to itself and every call of the tenant its own, an import
    drops the primary key and stores each later batch by plain INSERT (the last of a callId
    repeated within a batch, as ever). A callId it inserts again in a later batch keeps its
    last copy when the key comes back at commit: the counts and the stored calls are those of
    any import, and the key is as it was."""
    decisions, before = bulk
    with pg.begin_import("acme") as staged:
        staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
        staged.add(
            rows_of(
                make_call("c", START + 2),
                make_call("d", START + 3),
                make_call("c", START + 4, callerName="Cy Last"),
            )
        )
        staged.add(rows_of(make_call("e", START + 5), make_call("f", START + 6)))
        staged.add(
            rows_of(make_call("g", START + 7), make_call("a", START + 8, callerName="Ada Last"))
        )
        staged.add(rows_of(make_call("c", START + 9, callerName="Cy Again")))
        result = staged.commit()
    assert decisions and decisions[0]
    assert plain_inserts == [True, False, False, False]  # every batch after the switch
    assert (result.received, result.inserted, result.replaced, result.kept) == (10, 7, 0, 0)
    assert _index_definitions(pg_url) == before
    calls = stored(pg, "acme")  # fails on a callId stored twice
    assert sorted(calls) == list("abcdefg")
    assert calls["c"][1:3] == (START + 9, "Cy Again")
    assert calls["a"][1:3] == (START + 8, "Ada Last")
    assert pg.count_calls("acme") == 7  # the day counts lost the earlier copies too


def test_a_version_after_the_key_was_dropped_brings_it_back_and_counts_as_any_import(
    pg: PostgresStorage, pg_url: str, bulk: Bulk, plain_inserts: list[bool]
) -> None:
    """A part with versions needs the key (a stored call may be newer) and the callIds met:
    the import adds the key back, keeping last copies, and goes on as any import would."""
    decisions, before = bulk
    template = rows_of(make_call("template", START))[0]

    def versioned(call_id: str, version: int) -> tuple[Any, ...]:
        return (call_id, *template[1:-1], version)

    with pg.begin_import("acme") as staged:
        staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
        staged.add(rows_of(make_call("c", START + 2), make_call("a", START + 3, callerName="A2")))
        staged.add([versioned("c", 5), versioned("d", 1)])
        staged.add([versioned("c", 3)])  # older than the stored c: kept, met before
        staged.add(rows_of(make_call("e", START + 4)))
        result = staged.commit()
    assert decisions and decisions[0] and plain_inserts == [False]
    assert (result.received, result.inserted, result.replaced, result.kept) == (8, 5, 0, 0)
    assert _index_definitions(pg_url) == before
    calls = stored(pg, "acme")
    assert sorted(calls) == list("abcde")
    assert calls["a"][1:3] == (START + 3, "A2")
    assert pg.count_calls("acme") == 5
    with admin(pg_url) as conn:
        versions = conn.execute(
            "SELECT call_id, source_version FROM calls WHERE tenant_id = 'acme' "
            "AND source_version IS NOT NULL ORDER BY 1"
        ).fetchall()
    assert versions == [("c", 5), ("d", 1)]


_KEY_STATE = (
    "SELECT pg_get_indexdef(i.indexrelid), i.indisreplident, i.indisclustered, "
    "obj_description(c.oid, 'pg_constraint'), x.reloptions FROM pg_constraint AS c "
    "JOIN pg_index AS i ON i.indexrelid = c.conindid JOIN pg_class AS x ON x.oid = c.conindid "
    "WHERE c.conrelid = 'calls'::regclass AND c.contype = 'p'"
)


@pytest.mark.parametrize(
    ("needs_key", "undo"),
    [
        ("CREATE PUBLICATION {name} FOR TABLE calls", "DROP PUBLICATION {name}"),
        (
            'CREATE TABLE {name} (tenant_id text COLLATE "C", call_id text COLLATE "C", '
            "FOREIGN KEY (tenant_id, call_id) REFERENCES calls)",
            "DROP TABLE {name}",
        ),
        ("CREATE UNIQUE INDEX {name} ON calls (tenant_id, call_id)", "DROP INDEX {name}"),
        (
            "ALTER INDEX calls_pkey SET (fillfactor = 70)",
            "ALTER INDEX calls_pkey RESET (fillfactor)",
        ),
        (
            "ALTER TABLE calls REPLICA IDENTITY USING INDEX calls_pkey",
            "ALTER TABLE calls REPLICA IDENTITY DEFAULT",
        ),
        (
            "COMMENT ON CONSTRAINT calls_pkey ON calls IS 'ours'",
            "COMMENT ON CONSTRAINT calls_pkey ON calls IS NULL",
        ),
        ("ALTER TABLE calls CLUSTER ON calls_pkey", "ALTER TABLE calls SET WITHOUT CLUSTER"),
    ],
    ids=[
        "published",
        "referenced",
        "another-unique-index",
        "fillfactor",
        "replica-identity",
        "comment",
        "clustered",
    ],
)
def test_a_key_that_is_needed_or_would_not_come_back_the_same_stays_and_the_import_upserts(
    pg: PostgresStorage,
    pg_url: str,
    bulk: Bulk,
    plain_inserts: list[bool],
    needs_key: str,
    undo: str,
) -> None:
    """The key stays, and the import upserts as ever, when something needs the key (a
    publication, a foreign key, an upsert that could infer another unique index), or when
    adding it back from its constraint's definition would lose one of its settings."""
    decisions, _ = bulk
    name = f"rc_needs_key_{secrets.token_hex(4)}"
    with admin(pg_url) as conn:
        conn.execute(needs_key.format(name=name))
        indexes, key = _index_definitions(pg_url), conn.execute(_KEY_STATE).fetchall()
    try:
        with pg.begin_import("acme") as staged:
            staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
            staged.add(rows_of(make_call("c", START + 2), make_call("a", START + 3)))
            result = staged.commit()
        with admin(pg_url) as conn:
            assert conn.execute(_KEY_STATE).fetchall() == key
        assert _index_definitions(pg_url) == indexes
    finally:
        with admin(pg_url) as conn:
            conn.execute(undo.format(name=name))
    assert decisions and decisions[0] and plain_inserts == []
    assert (result.received, result.inserted, result.replaced) == (4, 3, 0)
    assert stored(pg, "acme")["a"][1] == START + 3


def test_an_import_whose_calls_all_have_versions_keeps_the_key(
    pg: PostgresStorage, bulk: Bulk, plain_inserts: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part with versions needs the key: an import that brings only such parts never drops
    it, and one whose first part after the switch has versions upserts from then on, rather
    than dropping the key and building it again over the whole table."""
    decisions, _ = bulk
    dropped = _returns_of(monkeypatch, "_drop_primary_key")
    template = rows_of(make_call("template", START))[0]
    with pg.begin_import("acme") as staged:
        staged.add([("a", *template[1:-1], 1), ("b", *template[1:-1], 1)])
        staged.add([("c", *template[1:-1], 1), ("a", *template[1:-1], 2)])
        staged.add(rows_of(make_call("d", START)))  # without a version, after one with
        result = staged.commit()
    assert decisions and decisions[0] and dropped == [] and plain_inserts == []
    assert (result.received, result.inserted, result.replaced, result.kept) == (5, 4, 0, 0)
    assert sorted(stored(pg, "acme")) == list("abcd")


def test_a_call_another_session_stored_before_the_switch_is_replaced_not_inserted_again(
    pg: PostgresStorage, pg_url: str, bulk: Bulk, plain_inserts: list[bool]
) -> None:
    """The tenant held no call when the import began, but another session stored one before
    the switch: the import is not alone with the tenant's calls, and upserts."""
    decisions, _ = bulk
    other = open_pg(pg_url)
    try:
        with pg.begin_import("acme") as staged:
            staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
            # On another day: a day's count the import has written waits for it to commit.
            x = make_call("x", START + 3 * DAY)
            assert other.upsert_calls("acme", rows_of(x)).inserted == 1
            staged.add(rows_of(make_call("x", START + 9), make_call("c", START + 2)))
            result = staged.commit()
    finally:
        other.close()
    assert decisions and decisions[0] and plain_inserts == []
    assert (result.received, result.inserted, result.replaced) == (4, 3, 1)
    assert stored(pg, "acme")["x"][1] == START + 9


def test_an_import_alone_with_the_tenant_finds_nothing_by_a_loop_over_all_calls(
    pg: PostgresStorage, bulk: Bulk, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = _explained_plans(pg, monkeypatch)
    template = rows_of(make_call("template", START))[0]
    with pg.begin_import("acme") as staged:
        for batch in range(3):  # import_lines' batch size: the plans depend on sizes
            staged.add([(f"b{batch}-{i}", *template[1:]) for i in range(20_000)])
        staged.add([(f"b0-{i}", *template[1:]) for i in range(0, 20_000, 2)])  # met: upserted
        result = staged.commit()
    assert (result.received, result.inserted, result.replaced) == (70_000, 60_000, 0)
    inserts = [plan for plan in plans if "Insert on calls" in plan]
    assert ["Conflict" in plan for plan in inserts] == [True, False, False, False]
    assert_no_loop_over_calls(plans)


def test_an_import_command_killed_while_the_key_is_dropped_leaves_the_table_as_it_was(
    pg: PostgresStorage, pg_url: str, tmp_path: Path
) -> None:
    """SIGKILL in the middle of an import that dropped the primary key (a file of a new
    tenant's calls, larger than the table, inserted without the key): the server rolls the
    transaction back, and the key, the indexes and the table are as before."""
    pg.create_tenant("acme", "us")
    before = _index_definitions(pg_url)
    source = tmp_path / "calls.jsonl"
    with source.open("wb") as out:
        for i in range(300_000):
            out.write(orjson.dumps(make_call(f"c{i}", START + i)) + b"\n")
    command = [sys.executable, "-m", "recent_calls", "import", "--tenant", "acme"]
    importer = subprocess.Popen(
        [*command, "--database", pg_url, str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    unkeyed = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'WITH batch AS%%' AND query NOT LIKE '%%ON CONFLICT%%'"
    )
    try:
        with admin(pg_url) as conn:
            deadline, found = time.monotonic() + 60, None
            while found is None and time.monotonic() < deadline and importer.poll() is None:
                found = conn.execute(unkeyed).fetchone()
                time.sleep(0.01)
            assert found is not None, "the import never inserted without the key"
            importer.send_signal(signal.SIGKILL)
            importer.wait()
            deadline = time.monotonic() + 30
            gone = "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)"
            while not conn.execute(gone, found).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the killed import's session stayed"
                time.sleep(0.05)
    finally:
        importer.kill()
        importer.wait()
    assert _index_definitions(pg_url) == before
    assert pg.count_calls("acme") == 0
    assert pg.upsert_calls("acme", rows_of(make_call("c1", START))).inserted == 1
    assert pg.upsert_calls("acme", rows_of(make_call("c1", START + 1))).replaced == 1


def test_a_file_expected_to_hold_more_than_the_table_switches_before_its_first_batch(
    pg: PostgresStorage, pg_url: str, bulk: Bulk, tmp_path: Path
) -> None:
    """A file's size and its first block tell how many calls it holds: enough, and the import
    builds the indexes at commit from its first batch on. The same calls given as a list (no
    size to go by) come in one batch, and decide nothing."""
    decisions, before = bulk
    calls = [make_call(f"c{i}", START + i) for i in range(3)]
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"".join(orjson.dumps(call) + b"\n" for call in calls))
    listed = [dict(call, callId="l" + call["callId"]) for call in calls]
    assert import_lines(pg, "acme", listed).inserted == 3
    assert decisions == []
    with path.open("rb") as source:
        report = import_lines(pg, "acme", source, workers=1)
    assert len(decisions) == 1 and decisions[0]
    assert (report.inserted, report.replaced) == (3, 0)
    assert _index_definitions(pg_url) == before
    assert len(stored(pg, "acme")) == 6


def test_an_import_by_a_role_that_does_not_own_the_indexes_stays_incremental(
    pg: PostgresStorage, pg_url: str, bulk: Bulk
) -> None:
    """The tables were made by another role (the owner ran the migrations); this one may write
    calls but not drop its indexes: the import goes on index by index, and stores everything."""
    decisions, before = bulk
    role, password = f"rc_writer_{secrets.token_hex(4)}", secrets.token_hex(8)
    with admin(pg_url) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        for grant in (
            "GRANT USAGE, CREATE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(grant).format(sql.Identifier(role)))
    writer = open_pg(with_user(pg_url, role, password))
    try:
        with writer.begin_import("acme") as staged:
            staged.add(rows_of(*(make_call(f"c{i}", START) for i in range(2))))
            staged.add(rows_of(make_call("c2", START)))
            result = staged.commit()
        assert decisions == [[]]  # DROP INDEX refused: nothing dropped, the import went on
        assert (result.received, result.inserted) == (3, 3)
        assert _index_definitions(pg_url) == before
    finally:
        writer.close()
        with admin(pg_url) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- consistency and failures --------------------------------------------------------------------


def test_one_read_sees_one_snapshot(pg: PostgresStorage) -> None:
    pg.create_tenant("acme", "us")
    pg.upsert_calls("acme", rows_of(make_call("a", START)))

    def count(run: Run) -> int:
        return int(run("SELECT count(*) FROM calls WHERE tenant_id = %(t)s", {"t": "acme"})[0][0])

    def twice(run: Run) -> tuple[int, int]:
        before = count(run)
        pg.upsert_calls("acme", rows_of(make_call("b", START)))  # another connection commits
        return before, count(run)

    assert pg._read(twice) == (1, 1)
    assert pg.count_calls("acme") == 2
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        pg._read(lambda run: run("DELETE FROM calls WHERE tenant_id = %(t)s", {"t": "acme"}))


def test_connection_failures_are_database_unavailable(pg: PostgresStorage, pg_url: str) -> None:
    pg.create_tenant("acme", "us")
    with admin(pg_url) as conn:

        def killed(run: Run) -> Rows:
            pid = run("SELECT pg_backend_pid()", {})[0][0]
            conn.execute("SELECT pg_terminate_backend(%s::int)", (pid,))
            return run("SELECT 1", {})

        with pytest.raises(DatabaseUnavailable) as caught:
            pg._read(killed)
        answer = as_problem(caught.value)
        assert answer is not None and answer.status == 503 and answer.headers.get("Retry-After")

        # Connections the server dropped while idle are replaced without a failed request.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert pg.count_calls("acme") == 0

    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        PostgresStorage("postgresql://postgres@127.0.0.1:1/nothing", connect_timeout=2)
    closed = open_pg(pg_url)
    closed.close()
    with pytest.raises(DatabaseUnavailable):
        closed.count_calls("acme")


def test_writes_are_not_held_to_the_read_statement_timeout(pg: PostgresStorage) -> None:
    pg.set_statement_timeout(200)
    pg._write(lambda run: run("SELECT pg_sleep(0.3)", {}))
    with pytest.raises(QueryTimeout):
        pg._read(lambda run: run("SELECT pg_sleep(0.3)", {}))


def test_a_streamed_page_is_held_to_the_read_statement_timeout(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large page is read as the server sends it: a statement stopped at the limit after its
    first chunks came is a QueryTimeout all the same, and the one connection of the pool
    streams the next page."""
    monkeypatch.setattr(postgres_store, "STREAM_ROWS", 10)
    pg = open_pg(pg_url, min_size=1, max_size=1)
    try:
        pg.set_statement_timeout(300)
        rows: list[int] = []
        real_stream = psycopg.Cursor.stream

        def stream(cursor: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for row in real_stream(cursor, *args, **kwargs):
                rows.append(1)
                yield row

        monkeypatch.setattr(psycopg.Cursor, "stream", stream)
        # 100 rows at once, then one every 10 ms: stopped at 300 ms, after many chunks came.
        slow = "SELECT g FROM generate_series(1, 5000) g WHERE g <= 100 OR pg_sleep(0.01) IS NULL"
        with pytest.raises(QueryTimeout):
            pg._read(lambda run: pg._page_columns(run, slow, {}, 5000))
        assert len(rows) >= 100
        monkeypatch.setattr(postgres_store, "STREAM_MIN_ROWS", 1)
        pg.create_tenant("acme", "us")
        import_lines(pg, "acme", seeded_calls(30, seed=2))
        rows.clear()
        found = pg.search(bound("acme"), request("acme", duration="allhistory", rows=5000))
        assert found.hits == len(found.rows) == 30 == len(rows)
    finally:
        pg.close()


def test_a_part_that_fails_midway_through_a_streamed_page_leaves_the_connection_usable(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search hands a large page to `each` as it arrives: when `each` fails on the second part,
    with the server still sending, that error is the search's, and the pool's one connection
    answers the next search whole."""
    monkeypatch.setattr(postgres_store, "STREAM_MIN_ROWS", 1)
    monkeypatch.setattr(postgres_store, "STREAM_ROWS", 10)
    pg = open_pg(pg_url, min_size=1, max_size=1)
    try:
        pg.create_tenant("acme", "us")
        import_lines(pg, "acme", seeded_calls(45, seed=3))
        query = request("acme", duration="allhistory", rows=5000)
        seen: list[int] = []

        def each(part: Any) -> int:
            seen.append(len(part))
            if len(seen) == 2:
                raise LookupError("a renderer's own failure")
            return len(part)

        with pytest.raises(LookupError, match="renderer's own"):
            pg.search(bound("acme"), query, each)
        assert seen == [10, 10]
        found = pg.search(bound("acme"), query, len)
        assert found.hits == 45 and found.parts == (10, 10, 10, 10, 5)
    finally:
        pg.close()


def test_a_pooled_connection_the_server_ended_is_replaced_before_a_request_meets_it(
    pg_url: str,
) -> None:
    """The pool checks a connection it hands out by a round trip only if the server sent
    something since its last use: ending a session does, so no request fails on it."""
    pg = open_pg(pg_url, min_size=1, max_size=1)
    try:
        pg.create_tenant("acme", "us")
        with pg._connection() as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        with admin(pg_url) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend[0],))
        for _ in range(50):  # the server ends the session a moment later
            with admin(pg_url) as conn:
                found = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend[0],)
                ).fetchone()
            if found is not None and found[0] == 0:
                break
            time.sleep(0.02)
        assert pg.count_calls("acme") == 0
        with pg._connection() as conn:
            again = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert again is not None and again[0] != backend[0]
    finally:
        pg.close()


def _session_timeout(pg: PostgresStorage, setting: str = "statement_timeout") -> str:
    """A setting (statement_timeout) of the pool's session outside any transaction."""
    with pg._connection() as conn:
        found = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
    assert found is not None
    return str(found[0])


def test_a_first_page_is_one_statement_held_to_the_read_limit_and_no_write_is(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first page is one statement outside any transaction, under the read limit as the
    session's own statement_timeout: what that leaves on the pool's one connection holds no
    write, import or VACUUM after it to the limit."""
    with admin(pg_url) as conn:  # a server whose transactions default to SERIALIZABLE
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_isolation = 'serializable'").format(
                sql.Identifier(str(name[0]))
            )
        )
    pg = open_pg(pg_url, min_size=1, max_size=1)
    try:
        default = _session_timeout(pg)
        assert _session_timeout(pg, "default_transaction_isolation") == "read committed"
        pg.create_tenant("acme", "us")
        import_lines(pg, "acme", seeded_calls(40, seed=3))
        first = request("acme", duration="allhistory", rows=10)
        expected = Storage.search(pg, bound("acme"), first)  # in a transaction
        pg.set_statement_timeout(250)
        with pg.trace() as seen:
            found = pg.search(bound("acme"), first)
        assert found == expected and found.hits == 40 and len(found.rows) == 10
        assert len(seen) == 1 and "WITH counted" in seen[0][0]
        with pg.trace() as seen:
            nothing = pg.search(bound("acme"), request("acme", tenantAgents=["nobody"]))
        assert (nothing.hits, len(nothing.rows), len(seen)) == (0, 0, 1)
        assert _session_timeout(pg) == "250ms"

        slow = ("SELECT 1 FROM pg_sleep(0.5)", {})
        monkeypatch.setattr(pg, "_hits_statement", lambda where, query: slow)
        with pytest.raises(QueryTimeout):
            pg.search(bound("acme"), first)
        monkeypatch.undo()

        pg._write(lambda run: run("SELECT pg_sleep(0.3)", {}))  # as an import's batches
        assert pg.compact() and _session_timeout(pg) == default
        pg.set_statement_timeout(None)
        pg._read(lambda run: run("SELECT pg_sleep(0.3)", {}))
        pg.search(bound("acme"), first)
        assert _session_timeout(pg) == default
    finally:
        pg.close()


def test_searches_go_on_when_distribute_drops_the_day_counts_under_a_running_process(
    pg: PostgresStorage, pg_url: str
) -> None:
    """`recent-calls distribute` drops the per-day counts (Citus keeps none) while servers
    run: their next searches count by the index, none of them refused."""
    pg.create_tenant("acme", "us")
    import_lines(pg, "acme", [make_call(f"c{i}", START + i * DAY // 2) for i in range(40)])
    deep = request("acme", duration="allhistory", rows=7, page=4)
    first = request("acme", duration="allhistory", rows=7)
    before = pg.search(bound("acme"), deep)
    assert pg._day_counts is True  # this process uses them
    first_before = pg.search(bound("acme"), first)
    with admin(pg_url) as conn:
        for statement in _DAY_COUNTS:
            conn.execute(statement)
    after = pg.search(bound("acme"), deep)
    assert after == before and after.hits == 40 and len(after.rows) == 7
    assert pg._day_counts is False
    pg._day_counts = True  # a process that has not met the drop yet, on its one-statement plan
    assert pg.search(bound("acme"), first) == first_before
    assert pg._day_counts is False


# -- every statement on call data is bound to one tenant -----------------------------------------


def test_an_upsert_can_store_and_replace_only_the_tenants_calls(pg: PostgresStorage) -> None:
    pg.create_tenant("acme", "us")
    with pg.trace() as seen:
        import_lines(pg, "acme", seeded_calls(300, seed=5))
        pg.upsert_calls("acme", rows_of(make_call("pushed", START)))
    upserts = [sql for sql, _ in seen if re.search(r"INSERT INTO calls \(tenant_id, ", sql)]
    assert len(upserts) >= 2
    for statement in upserts:
        # The tenant is the value of tenant_id of every row it stores, and the conflict key
        # includes tenant_id, so it can only replace that tenant's calls.
        assert re.search(r"SELECT %\(tenant_id\)s, call_id, ", statement), statement
        assert "ON CONFLICT (tenant_id, call_id)" in statement, statement
        assert "SET tenant_id" not in statement and " tenant_id = EXCLUDED" not in statement
    assert pg.count_calls("acme") == 301


# -- searches answer what the DuckDB engine answers ----------------------------------------------


def seeded_calls(count: int, seed: int) -> list[dict[str, Any]]:
    """Calls with many ties on every sort key, and text that is not plain ASCII."""
    rng = random.Random(seed)
    return [
        make_call(
            f"c{rng.randrange(10**6):06d}-{i}",
            START + rng.randrange(20) * 1000,
            callDuration=str(rng.choice([1000, 2000, 3000])),
            callerName=rng.choice(["ann", "Ann", "bob", "Émile", "", "50% off_\\", "ÅSA"]),
            callerNumber=rng.choice(["7325550100", "+44 20 7946 0000", ""]),
            queueId=rng.choice(["1", "2,3", "10", "Zürich", "Ärger,B"]),
            agentId=rng.choice(["agA", "aga", "Ágnes", "", "agB,agA"]),
            agentGroup=rng.choice(["10", "20", ""]),
            transferCount=f"{rng.randrange(3)}.0",
            agentHoldCount=rng.randrange(3),
            holdDuration=f"{rng.choice([0, 1500, 61000])}.0",
            dialedNumber=rng.choice(["18005550000", "18005550001"]),
        )
        for i in range(count)
    ]


def request(tenant: str, **fields: Any) -> Any:
    body = {"tenantId": tenant, "page": 1, "rows": 50, "duration": "allhistory", **fields}
    return parse_request(body, NOW)


class Pair:
    """The same tenants and calls in both engines."""

    def __init__(self, duck: Storage, pg: Storage) -> None:
        self.duck, self.pg = duck, pg

    def load(self, tenant: str, calls: list[dict[str, Any]]) -> None:
        for storage in (self.duck, self.pg):
            if storage.get_tenant(tenant) is None:
                storage.create_tenant(tenant, "us")
            import_lines(storage, tenant, calls)

    def one_of(self, tenant: str, column: str) -> list[str]:
        """A few values of a column of the tenant's calls, most common first."""
        rows = self.duck._read(
            lambda run: run(
                f"SELECT v FROM (SELECT unnest({column}) AS v FROM calls WHERE tenant_id = $t) "
                "GROUP BY v ORDER BY count(*) DESC, v LIMIT 3",
                {"t": tenant},
            )
        )
        return [row[0] for row in rows]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with fresh_database(postgres_server()) as url:
        duck = open_storage(str(Path(tmp_path_factory.mktemp("duck")) / "calls.duckdb"))
        pg = open_storage(url)
        try:
            both = Pair(duck, pg)
            demo = list(generate_calls("acme", 3000, seed=11, end_ms=NOW, days=30))
            both.load("acme", demo)
            both.load("acme", seeded_calls(400, seed=12))
            both.load("beta", list(generate_calls("beta", 300, seed=13, end_ms=NOW, days=30)))
            both.load("ties", seeded_calls(600, seed=14))
            yield both
        finally:
            pg.close()
            duck.close()


def comparison_requests(pair: Pair) -> list[tuple[str, dict[str, Any]]]:
    queue, agent, group = (
        pair.one_of("acme", c) for c in ("queue_ids", "agent_ids", "agent_groups")
    )
    channels = pair.duck._read(
        lambda run: run(
            "SELECT dialed_number FROM calls WHERE tenant_id = 'acme' GROUP BY 1 "
            "ORDER BY count(*) DESC, 1 LIMIT 2",
            {},
        )
    )
    cases: list[tuple[str, dict[str, Any]]] = []
    for tenant in ("acme", "ties"):
        for column in (None, *SORT_COLUMNS):
            for order in ("asc", "desc"):
                sort = {"sortColumn": column, "sortOrder": order}
                cases.append((tenant, {**sort, "page": 1, "rows": 40}))
                cases.append((tenant, {**sort, "page": 9, "rows": 37}))  # offset 296: ties
                if tenant == "acme":
                    cases.append((tenant, {**sort, "page": 26, "rows": 120}))  # deep, offset 3000
    window = f"{NOW - 20 * DAY}-{NOW - 10 * DAY}"
    filters: list[dict[str, Any]] = [
        {"callerName": ["an"]},
        {"callerName": ["ANN"], "sortColumn": "callerName", "sortOrder": "asc"},
        {"callerName": ["555"]},
        {"callerName": ["é"]},
        {"callerName": ["%"]},
        {"callerName": ["_"]},
        {"callerName": ["\\"]},
        {"callerName": [""]},
        {"callerName": ["no such caller"]},
        {"tenantQueues": queue[:1]},
        {"tenantQueues": queue, "sortColumn": "queueId"},
        {"tenantAgents": agent[:2], "sortColumn": "agentId", "sortOrder": "asc"},
        {"tenantGroups": group[:1], "page": 3, "rows": 30},
        {"tenantChannels": [row[0] for row in channels]},
        {"tenantQueues": ["Zürich"], "tenantAgents": ["Ágnes", "agA"]},
        {"agentHoldCount": "range:1,-1"},
        {"agentMuteCount": "range:0,0", "transferCount": "range:1,2"},
        {"callDuration": "sec:30,300", "sortColumn": "callDuration", "page": 4},
        {"timeInQueue": "min:1,-1", "sortColumn": "waitTime"},
        {"timeInIVR": "sec:-1,20"},
        {"agentCallDuration": "min:2,10", "sortColumn": "agentCallHandlingDuration"},
        {"agentHoldDuration": "sec:1,-1", "sortColumn": "holdDuration", "sortOrder": "asc"},
        {"timeRange": window, "duration": None, "page": 5, "rows": 100},
        {"duration": "week", "timezone": "America/New_York"},
        {"duration": "month", "timezone": "Europe/London", "sortColumn": "callerNumber"},
        {"page": 10**6, "rows": 50},  # past the end
        {"page": 1, "rows": 5000},
    ]
    cases += [("acme", body) for body in filters]
    cases += [("beta", {"page": 2, "rows": 100}), ("nobody", {}), ("ties", {"callerName": ["å"]})]
    return cases


def test_searches_answer_exactly_what_duckdb_answers(pair: Pair) -> None:
    compared = 0
    nonempty = 0
    for tenant, body in comparison_requests(pair):
        query = request(tenant, **body)
        expected = pair.duck.search(bound(tenant), query)
        assert pair.pg.search(bound(tenant), query) == expected, (tenant, body)
        compared += 1
        nonempty += bool(expected.rows)
    assert compared > 150 and nonempty > compared * 0.8


def test_walking_every_page_returns_every_call_once(pair: Pair) -> None:
    for column in ("queueId", "callerName", "transferCount"):
        walked: list[tuple[Any, ...]] = []
        page = 1
        while rows := pair.pg.search(
            bound("ties"), request("ties", page=page, rows=47, sortColumn=column)
        ).rows:
            walked += rows
            page += 1
        assert len(walked) == 600
        assert (
            walked
            == pair.duck.search(bound("ties"), request("ties", rows=5000, sortColumn=column)).rows
        )


def test_text_sort_keys_compare_by_code_point(pair: Pair) -> None:
    found = pair.pg.search(
        bound("ties"), request("ties", rows=5000, sortColumn="queueId", sortOrder="asc")
    )
    keys = [row.queue_id.lower() for row in found.rows]
    assert keys == sorted(keys)  # Python compares str by code point, as DuckDB does
    assert keys[-1] == "ärger,b" and "zürich" in keys  # U+00E4 sorts after z


def pooled_connections(url: str) -> int:
    with admin(url) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'recent-calls'"
            ).fetchall()[0][0]
        )


def test_the_pool_is_bounded_and_configurable(pg_url: str) -> None:
    store = open_pg(pg_url, min_size=2, max_size=3)
    try:
        store.create_tenant("acme", "us")
        deadline = time.monotonic() + 5
        while pooled_connections(pg_url) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the short-lived connections of opening are still going away
        assert pooled_connections(pg_url) == 2
        together = threading.Barrier(3)
        seen: list[int] = []

        def hold(run: Run) -> None:
            run("SELECT 1", {})
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait(timeout=1)
            seen.append(pooled_connections(pg_url))

        threads = [threading.Thread(target=store._read, args=(hold,)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 5 and max(seen) == 3
    finally:
        store.close()


def test_the_pool_size_is_a_setting(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECENT_CALLS_POOL_SIZE", "3")
    store = open_storage(pg_url, pool_size=Settings().pool_size)
    try:
        assert isinstance(store, PostgresStorage) and store._pool.max_size == 3
    finally:
        store.close()


# -- the test helper -----------------------------------------------------------------------------


def test_a_server_that_does_not_answer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECENT_CALLS_TEST_POSTGRES", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(NoPostgres, match="RECENT_CALLS_TEST_POSTGRES="):
        postgres_server.__wrapped__()


def test_without_a_server_a_throwaway_cluster_serves() -> None:
    server = start_throwaway_cluster()
    with fresh_database(server) as url:
        store = open_pg(url)
        try:
            store.create_tenant("acme", "us")
            assert store.upsert_calls("acme", rows_of(make_call("a", START))).inserted == 1
        finally:
            store.close()
        with admin(server) as conn:
            locale = conn.execute("SELECT lower('ÄB')").fetchall()
        assert locale == [("äb",)]  # a UTF-8 ctype, as the text sort keys need


# -- exact hits from per-day counts --------------------------------------------------------------

DAY = 86_400_000


def plain_count(pg: PostgresStorage, tenant: str, low: int | None, high: int | None) -> int:
    where, params = "tenant_id = %(t)s", {"t": tenant, "low": low, "high": high}
    if low is not None:
        where += " AND start_ms >= %(low)s"
    if high is not None:
        where += " AND start_ms <= %(high)s"
    return int(pg._read(lambda run: run(f"SELECT count(*) FROM calls WHERE {where}", params))[0][0])


def test_hits_from_day_counts_stay_exact_through_every_kind_of_write(pg: PostgresStorage) -> None:
    rng = random.Random(11)
    for tenant in ("acme", "beta"):
        pg.create_tenant(tenant, "us")

    def some_calls(count: int, prefix: str) -> list[dict[str, Any]]:
        return [
            make_call(f"{prefix}{rng.randrange(400)}", START + rng.randrange(-40, 40) * DAY // 3)
            for _ in range(count)
        ]

    windows = [(None, None), (START - 5 * DAY - 7, START + 9 * DAY + 123), (START, START + DAY)]
    windows += [(START - 30 * DAY, None), (None, START + 3 * DAY + 1)]
    for step in range(8):
        tenant = rng.choice(["acme", "beta"])
        if step == 5:
            pg.delete_calls("beta")
        else:  # new calls, and calls that move to another day (a replace)
            import_lines(pg, tenant, some_calls(rng.randrange(50, 300), "c"))
            pg.upsert_calls(tenant, rows_of(*some_calls(20, "c")))
        for tenant in ("acme", "beta"):
            for low, high in windows:
                body: dict[str, Any] = {"page": 1, "rows": 1}
                if low is not None or high is not None:
                    shown = (0 if low is None else low, 253402300799999 if high is None else high)
                    body.update(duration=None, timeRange=f"{shown[0]}-{shown[1]}")
                with pg.trace() as seen:
                    found = pg.search(bound(tenant), request(tenant, **body)).hits
                assert found == plain_count(pg, tenant, low, high), (step, tenant, low, high)
                if (low, high) != (START, START + DAY):
                    assert any("FROM call_days" in sql for sql, _ in seen)
    filtered = pg.search(bound("acme"), request("acme", tenantQueues=["2583"], page=1, rows=1))
    assert filtered.hits == int(
        pg._read(
            lambda run: run(
                "SELECT count(*) FROM calls WHERE tenant_id = 'acme' AND '2583' = ANY(queue_ids)",
                {},
            )
        )[0][0]
    )


# -- import counts -------------------------------------------------------------------------------


def test_a_batch_that_inserts_and_replaces_this_imports_calls_counts_each_once(
    pg: PostgresStorage,
) -> None:
    pg.create_tenant("acme", "us")
    pg.upsert_calls("acme", rows_of(make_call("old", START)))  # stored before the import
    with pg.begin_import("acme") as staged:
        staged.add(rows_of(make_call("a", START), make_call("b", START + 1)))
        # a and b again (this import's own), "old" (replaced), two new calls
        staged.add(
            rows_of(
                make_call("a", START + 2),
                make_call("b", START + 3),
                make_call("old", START + 4),
                make_call("c", START + 5),
                make_call("d", START + 6),
            )
        )
        staged.add(rows_of(make_call("d", START + 7), make_call("e", START + 8)))
        result = staged.commit()
    assert (result.received, result.inserted, result.replaced) == (9, 5, 1)
    assert pg.count_calls("acme") == 6
    # The same import again: every call it names was stored before it started.
    again = pg.upsert_calls("acme", rows_of(make_call("a", START), make_call("z", START)))
    assert (again.received, again.inserted, again.replaced) == (2, 1, 1)
