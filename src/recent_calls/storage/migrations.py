"""The schema, as one ordered list of migration steps for every engine.

Each step has a number, a name and its statements per engine; the numbers applied are recorded
in `schema_migrations`, so opening a database applies exactly the steps it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records import COLUMNS


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    duckdb: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, engine: str) -> tuple[str, ...]:
        return self.duckdb if engine == "duckdb" else self.postgres


def calls_table_sql(engine: str, name: str = "calls") -> str:
    """CREATE TABLE for call data on `engine` (compaction builds a copy under another name)."""
    index = 1 if engine == "duckdb" else 2
    columns = ",\n  ".join(f"{column[0]} {column[index]} NOT NULL" for column in COLUMNS)
    # PostgreSQL enforces one row per (tenant, callId) with its key; DuckDB's upsert deletes and
    # re-inserts by callId inside one transaction instead, since an ART key on a large table
    # costs memory and slows bulk appends.
    key = ",\n  PRIMARY KEY (tenant_id, call_id)" if engine == "postgres" else ""
    return f"CREATE TABLE {name} (\n  {columns}{key}\n)"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tenants, credentials and calls",
        duckdb=(
            "CREATE TABLE tenants (tenant_id VARCHAR PRIMARY KEY, region VARCHAR NOT NULL, "
            "created_ms BIGINT NOT NULL)",
            "CREATE TABLE credentials (key_hash VARCHAR PRIMARY KEY, tenant_id VARCHAR NOT NULL, "
            "key_id VARCHAR NOT NULL, token_hash VARCHAR NOT NULL, label VARCHAR NOT NULL, "
            "created_ms BIGINT NOT NULL, revoked_ms BIGINT)",
            calls_table_sql("duckdb"),
        ),
        postgres=(
            "CREATE TABLE tenants (tenant_id text PRIMARY KEY, region text NOT NULL, "
            "created_ms bigint NOT NULL)",
            "CREATE TABLE credentials (key_hash text PRIMARY KEY, tenant_id text NOT NULL "
            "REFERENCES tenants, key_id text NOT NULL, token_hash text NOT NULL, "
            "label text NOT NULL, created_ms bigint NOT NULL, revoked_ms bigint)",
            "CREATE INDEX credentials_tenant ON credentials (tenant_id)",
            calls_table_sql("postgres"),
            "CREATE INDEX calls_by_start ON calls (tenant_id, start_ms DESC, call_id DESC)",
        ),
    ),
)
