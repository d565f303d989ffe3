"""api/problems.py: what the database refuses for reasons of its own is a 503, never a 500.

PostgreSQL set to refuse writes (`default_transaction_read_only`, as a standby or a quota does)
or with a `search_path` that does not hold the schema answers errors that are not the client's:
each is a ServiceUnavailable problem through the one error path, and /readyz says so too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.app import create_app
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.pg import citus_mode, fresh_database, migrated_template
from tests.support import FROZEN_NOW, InProcessHTTP, LiveServer, add_tenant

START = 1_710_000_000_000
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated database of the test's own: the settings it alters reach every session of
    it. (On Citus a test's usual database is a schema in one shared database.)"""
    if citus_mode():
        with fresh_database() as url:
            open_storage(url).close()
            yield url
        return
    with fresh_database(template=migrated_template()) as url:
        yield url


def _alter_database(url: str, setting: str, value: str) -> None:
    """Set `setting` for every new session of the database at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(str(name[0])), sql.Identifier(setting), sql.Literal(value)
            )
        )


@pytest.fixture
def tenant(pg_url: str) -> IssuedCredential:
    store = open_storage(pg_url)
    try:
        return add_tenant(store, "acme", "us", [make_call("old", START)])
    finally:
        store.close()


def _served(url: str) -> tuple[Storage, LiveServer]:
    """The app over a storage opened now, so that its sessions carry the database's settings."""
    store = open_storage(url, migrate=False)
    http = InProcessHTTP(create_app(Settings(database=url, now=FROZEN_NOW), storage=store))
    return store, LiveServer("http://testserver", store, http)  # type: ignore[arg-type]


def test_a_push_to_a_read_only_database_is_a_503_and_readyz_notices_postgres(
    pg_url: str, tenant: IssuedCredential, caplog: pytest.LogCaptureFixture
) -> None:
    _alter_database(pg_url, "default_transaction_read_only", "on")
    store, server = _served(pg_url)
    try:
        pushed = server.http.post(
            "/customerexperience/v1/calls/us",
            json={"tenantId": "acme", "calls": [make_call("new", START)]},
            headers={"8x8-apikey": tenant.api_key, "token": tenant.token},
        )
        assert pushed.status_code == 503, pushed.text
        assert pushed.headers["content-type"] == "application/problem+json"
        assert "Retry-After" in pushed.headers
        assert "read-only" in pushed.json()["detail"]
        assert "shorter window" not in pushed.json()["detail"]
        assert server.post(BODY, tenant).status_code == 200  # reads still work
        with caplog.at_level(logging.WARNING, logger="recent_calls"):
            ready = server.http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert "read-only" in ready.json()["detail"]
        assert any("read-only" in record.getMessage() for record in caplog.records)
    finally:
        server.http.close()
        store.close()


def test_reads_with_a_broken_search_path_are_a_503_and_readyz_says_why_postgres(
    pg_url: str, tenant: IssuedCredential, caplog: pytest.LogCaptureFixture
) -> None:
    _alter_database(pg_url, "search_path", "nowhere")
    store, server = _served(pg_url)
    try:
        read = server.post(BODY, tenant)
        assert read.status_code == 503, read.text
        assert read.headers["content-type"] == "application/problem+json"
        with caplog.at_level(logging.WARNING, logger="recent_calls"):
            ready = server.http.get("/readyz")
            health = server.http.get("/healthz")
        assert (ready.status_code, health.status_code) == (503, 503)
        # The log says why, for the operator; the client reads no table or schema name.
        logged = " ".join(record.getMessage() for record in caplog.records)
        assert "schema_migrations" in logged
        assert "schema_migrations" not in ready.text
    finally:
        server.http.close()
        store.close()


def test_a_push_stopped_by_the_statement_timeout_does_not_advise_a_shorter_window_postgres(
    pg_url: str, tenant: IssuedCredential
) -> None:
    _alter_database(pg_url, "statement_timeout", "300")
    store, server = _served(pg_url)
    try:
        with psycopg.connect(pg_url) as holder:
            holder.execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")  # the push waits on it
            pushed = server.http.post(
                "/customerexperience/v1/calls/us",
                json={"tenantId": "acme", "calls": [make_call("new", START)]},
                headers={"8x8-apikey": tenant.api_key, "token": tenant.token},
            )
        assert pushed.status_code == 503, pushed.text
        detail = pushed.json()["detail"]
        assert "shorter window" not in detail
        assert "write" in detail and "nothing of it was stored" in detail
    finally:
        server.http.close()
        store.close()
