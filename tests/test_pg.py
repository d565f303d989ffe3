"""tests/pg.py: a test's PostgreSQL database is emptied for the next, unless its shape changed."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg import citus_mode, fresh_database, migrated_template

pytestmark = pytest.mark.skipif(citus_mode(), reason="Citus tests get a schema each, not a pool")


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "staging",
    # The import stages rows in temporary tables: their schemas (pg_temp_N) stay in the catalog.
    [[], ["CREATE TEMPORARY TABLE staged (x int)", "INSERT INTO staged VALUES (1)"]],
    ids=["plain", "after-a-temporary-table"],
)
def test_a_reused_database_comes_back_empty(staging: list[str]) -> None:
    with fresh_database(template=migrated_template()) as url:
        first = _name(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in staging:
                conn.execute(statement)  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO tenants (tenant_id, region, created_ms) VALUES ('a', 'us', 0)"
            )
    with fresh_database(template=migrated_template()) as url:
        assert _name(url) == first
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
            assert conn.execute("SELECT to_regclass('pg_temp.staged')").fetchone() == (None,)


def test_a_database_is_reused_while_a_session_with_a_temporary_table_ends() -> None:
    """A session still open when its test ends is ended by the emptying, and its temporary
    table goes only as that session exits: the emptying leaves it alone."""
    with fresh_database(template=migrated_template()) as url:
        first = _name(url)
        held = psycopg.connect(url, autocommit=True)
        held.execute("CREATE TEMPORARY TABLE staged (x int)")
        held.execute("INSERT INTO staged VALUES (1)")
        # Many more, so that the session takes a while to drop them all as it exits.
        held.execute(
            "DO $$ BEGIN FOR i IN 1..400 LOOP "
            "EXECUTE format('CREATE TEMPORARY TABLE staged_%s (x int PRIMARY KEY)', i); "
            "END LOOP; END $$"
        )
    held.close()
    with fresh_database(template=migrated_template()) as url:
        assert _name(url) == first
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('pg_temp.staged')").fetchone() == (None,)


@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE leftover (x int)",
        "CREATE SCHEMA leftover",
        "ALTER TABLE tenants ADD COLUMN extra text",
        "CREATE INDEX extra ON tenants (region)",
        "DELETE FROM schema_migrations WHERE version > 1",
        "ALTER DATABASE {db} SET default_transaction_read_only = on",
    ],
)
def test_a_database_whose_shape_changed_is_dropped_not_reused(change: str) -> None:
    with fresh_database(template=migrated_template()) as url:
        changed = _name(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(change.format(db=changed))  # type: ignore[arg-type]
    with fresh_database(template=migrated_template()) as url:
        assert _name(url) != changed
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (changed,)).fetchone()
        assert found is None
