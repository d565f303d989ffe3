"""Storage engines behind one interface; `open_storage` picks one from a database string."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from recent_calls.clock import Clock, system_clock
from recent_calls.storage.base import Credential, SearchResult, Storage, Tenant, UpsertResult

__all__ = [
    "Credential",
    "SearchResult",
    "Storage",
    "Tenant",
    "UpsertResult",
    "open_storage",
    "redact",
]


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def is_server_url(database: str) -> bool:
    """Whether `database` names a server engine (a URL) rather than an embedded file."""
    return database.startswith(("postgresql://", "postgres://"))


def open_storage(
    database: str, *, migrate: bool = True, pool_size: int = 10, clock: Clock = system_clock
) -> Storage:
    """Open `database` (a file path: DuckDB; a postgresql:// URL: PostgreSQL) and migrate it.

    `pool_size` bounds the connections a PostgreSQL engine holds; DuckDB has one connection.
    `clock` gives every time the storage records (creation, revocation, migration).
    """
    storage: Storage
    if is_server_url(database):
        from recent_calls.storage.postgres_store import PostgresStorage

        storage = PostgresStorage(database, max_size=pool_size, clock=clock)
    elif "://" in database:
        raise ValueError(f"unsupported database URL {database!r}: use a file path or postgresql://")
    else:
        from recent_calls.storage.duckdb_store import DuckDBStorage

        storage = DuckDBStorage(database, clock=clock)
    if migrate:
        try:
            storage.migrate()
        except BaseException:
            storage.close()
            raise
    return storage
