"""Migrations: one ordered list of steps, applied once each and recorded, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from recent_calls.ingest.bulk import import_lines
from recent_calls.storage import migrations, open_storage
from recent_calls.storage.base import Storage
from recent_calls.storage.migrations import MIGRATIONS
from tests.calls import make_call, rows_of
from tests.pg import fresh_database

START = 1700000000000


def recorded(store: Storage) -> list[tuple[int, str]]:
    rows = store._read(
        lambda run: run("SELECT version, name FROM schema_migrations ORDER BY version", {})
    )
    return [(int(row[0]), str(row[1])) for row in rows]


@pytest.fixture
def blank(engine: str, tmp_path: Any) -> Iterator[str]:
    """A database without any schema: a new DuckDB file, or a PostgreSQL database made empty."""
    if engine == "duckdb":
        yield str(tmp_path / "blank.duckdb")
    else:
        with fresh_database() as url:
            yield url


def test_steps_are_numbered_one_by_one_and_named_once() -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len({step.name for step in MIGRATIONS}) == len(MIGRATIONS)
    assert all(step.postgres for step in MIGRATIONS)  # every step changes the server schema


def test_a_blank_database_gets_every_step_in_order_and_records_it(blank: str) -> None:
    store = open_storage(blank, migrate=False)
    try:
        assert store.migrate() == [step.version for step in MIGRATIONS]
        assert store.migrate() == []
        assert store.schema_version() == MIGRATIONS[-1].version
        assert recorded(store) == [(step.version, step.name) for step in MIGRATIONS]
    finally:
        store.close()


def test_reopening_a_migrated_database_applies_nothing(database: str) -> None:
    first = open_storage(database)
    first.close()
    again = open_storage(database, migrate=False)
    try:
        assert again.migrate() == []
        assert [version for version, _ in recorded(again)] == [s.version for s in MIGRATIONS]
    finally:
        again.close()


def test_a_database_behind_gets_only_the_steps_it_lacks(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = MIGRATIONS[:-1]
    monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", older)
    store = open_storage(blank, migrate=False)
    try:
        assert store.migrate() == [step.version for step in older]
    finally:
        store.close()
    monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", MIGRATIONS)
    store = open_storage(blank, migrate=False)
    try:
        assert store.migrate() == [MIGRATIONS[-1].version]
        assert store.schema_version() == MIGRATIONS[-1].version
    finally:
        store.close()


def test_calls_stored_before_source_versions_have_none_and_the_next_delivery_replaces_them(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = next(step for step in MIGRATIONS if "source_version" in " ".join(step.duckdb))
    before = tuple(s for s in MIGRATIONS if s.version < step.version)
    monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", before)
    store = open_storage(blank, migrate=False)
    try:
        store.migrate()
        store.create_tenant("acme", "us")
        # A call as the import stored it then: every column but the version.
        row = ("acme", *rows_of(make_call("old", START, callerName="stored before"))[0][:-1])
        p = store.dialect.param
        marks = ", ".join(p(f"v{i}") for i in range(len(row)))
        store._write(
            lambda run: run(
                f"INSERT INTO calls VALUES ({marks})", {f"v{i}": v for i, v in enumerate(row)}
            )
        )
    finally:
        store.close()
    monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", MIGRATIONS)
    store = open_storage(blank, migrate=False)
    try:
        assert store.migrate() == [s.version for s in MIGRATIONS if s.version >= step.version]
        assert stored_versions(store) == {"old": ("stored before", None)}

        def deliver(name: str, version: int) -> tuple[int, int]:
            line = make_call("old", START, callerName=name, sourceVersion=version)
            report = import_lines(store, "acme", [line])
            return report.replaced, report.kept

        assert deliver("v5", 5) == (1, 0)  # no stored version: replaced
        assert deliver("v3", 3) == (0, 1)
        assert stored_versions(store) == {"old": ("v5", 5)}
        store.compact()  # DuckDB rewrites the table: the column it added comes along
        assert stored_versions(store) == {"old": ("v5", 5)}
    finally:
        store.close()


def stored_versions(store: Storage) -> dict[str, tuple[str, int | None]]:
    rows = store._read(
        lambda run: run("SELECT call_id, caller_name, source_version FROM calls", {})
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def _collation(conn: psycopg.Connection[tuple[Any, ...]], table: str, column: str) -> str:
    row = conn.execute(
        "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
        "WHERE a.attrelid = %s::regclass AND a.attname = %s",
        (table, column),
    ).fetchone()
    assert row is not None, (table, column)
    return str(row[0])


def test_postgres_tenant_columns_that_colocate_agree_on_collation() -> None:
    with fresh_database() as url:
        open_storage(url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            assert _collation(conn, "calls", "tenant_id") == "C"
            assert _collation(conn, "sync_watermarks", "tenant_id") == "C"


def test_postgres_every_table_has_a_replica_identity_for_online_shard_moves() -> None:
    with fresh_database() as url:
        open_storage(url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            missing = conn.execute(
                "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
                "AND c.relnamespace = current_schema()::regnamespace AND (c.relreplident = 'n' "
                "OR (c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_index i "
                "WHERE i.indrelid = c.oid AND i.indisprimary)))"
            ).fetchall()
    assert missing == []


def test_postgres_extensions_already_there_are_not_created_again() -> None:
    """CREATE EXTENSION IF NOT EXISTS still checks ownership on Citus and fails there for a role
    that does not own it; the step must not run it for an extension the database has."""
    with fresh_database() as url:
        open_storage(url).close()
        notices: list[str] = []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
            for statement in migrations._optional_extension("pg_trgm", "slower"):
                conn.execute(statement)
        # Plain PostgreSQL says "extension ... already exists, skipping" when CREATE runs.
        assert notices == []
