"""The schema, as one ordered list of migration steps for every engine.

Each step has a number, a name and its statements per engine; the numbers applied are recorded
in `schema_migrations`, so opening a database applies exactly the steps it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recent_calls.storage.columns import COLUMNS, NULLABLE_COLUMNS


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    duckdb: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, engine: str) -> tuple[str, ...]:
        return self.duckdb if engine == "duckdb" else self.postgres


def calls_table_sql(
    engine: str, name: str = "calls", columns: Sequence[tuple[str, str, str]] = COLUMNS
) -> str:
    """CREATE TABLE for call data on `engine` (compaction builds a copy under another name)."""
    index = 1 if engine == "duckdb" else 2
    defined = ",\n  ".join(
        f"{column[0]} {column[index]}{'' if column[0] in NULLABLE_COLUMNS else ' NOT NULL'}"
        for column in columns
    )
    # PostgreSQL enforces one row per (tenant, callId) with its key; DuckDB's upsert deletes and
    # re-inserts by callId inside one transaction instead, since an ART key on a large table
    # costs memory and slows bulk appends.
    key = ",\n  PRIMARY KEY (tenant_id, call_id)" if engine == "postgres" else ""
    return f"CREATE TABLE {name} (\n  {defined}{key}\n)"


# The calls table as the first step made it: the columns later steps add come after these.
_FIRST_CALL_COLUMNS = tuple(column for column in COLUMNS if column[0] != "source_version")


def _optional_extension(name: str, without: str) -> tuple[str, ...]:
    """PostgreSQL: create extension `name` if the server has it, else warn and go on.

    An extension already in the database is left alone before CREATE EXTENSION runs: on Citus,
    IF NOT EXISTS still checks ownership, so a role that does not own it would fail there and
    warn, falsely, that the extension is not available.
    """
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = '{name}') THEN "
        f"CREATE EXTENSION {name}; END IF; "
        f"EXCEPTION WHEN OTHERS THEN RAISE WARNING "
        f"'extension {name} is not available (%): {without}', SQLERRM; END $$",
    )


# PostgreSQL: tenant_id leads every index on call data (a distributed table's shards then hold
# whole tenants), which GIN can do only with btree_gin; substring search uses pg_trgm. Each
# index is made with what the server has, so a plain PostgreSQL still works, only slower.
_POSTGRES_SEARCH_INDEXES = """DO $$
DECLARE
  lead text := CASE WHEN EXISTS (SELECT FROM pg_extension WHERE extname = 'btree_gin')
                    THEN 'tenant_id, ' ELSE '' END;
  trigram boolean := EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm');
  col text;
BEGIN
  IF trigram THEN
    FOREACH col IN ARRAY ARRAY['caller_name_key', 'caller_number_key'] LOOP
      EXECUTE format('CREATE INDEX %I ON calls USING gin (%s%I gin_trgm_ops)',
                     'calls_' || col || '_trgm', lead, col);
    END LOOP;
  END IF;
  FOREACH col IN ARRAY ARRAY['agent_ids', 'queue_ids', 'agent_groups'] LOOP
    EXECUTE format('CREATE INDEX %I ON calls USING gin (%s%I)', 'calls_' || col, lead, col);
  END LOOP;
END $$"""

# PostgreSQL: an exact count(*) over millions of calls reads the whole index. Per-day counts,
# kept by statement triggers (their transition tables hold the rows each statement wrote) in
# the same transaction as every write, let a window's `hits` be the sum of its whole days plus
# its two partial edges counted from the index (postgres_store.py). Rows are added in key order,
# so concurrent writers lock days in the same order and cannot deadlock on them.
_DAY_MS = 86_400_000
_POSTGRES_DAY_COUNTS = (
    'CREATE TABLE call_days (tenant_id text COLLATE "C" NOT NULL, day bigint NOT NULL, '
    "calls bigint NOT NULL, PRIMARY KEY (tenant_id, day))",
    f"""CREATE FUNCTION call_days_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO call_days (tenant_id, day, calls)
  SELECT tenant_id, div(start_ms, {_DAY_MS}), count(*) FROM added GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (tenant_id, day) DO UPDATE SET calls = call_days.calls + EXCLUDED.calls;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION call_days_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE call_days SET calls = call_days.calls - gone.calls
  FROM (SELECT tenant_id, div(start_ms, {_DAY_MS}) AS day, count(*) AS calls FROM removed
        GROUP BY 1, 2 ORDER BY 1, 2) AS gone
  WHERE call_days.tenant_id = gone.tenant_id AND call_days.day = gone.day;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER call_days_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION call_days_add()",
    "CREATE TRIGGER call_days_update_old AFTER UPDATE ON calls REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION call_days_remove()",
    "CREATE TRIGGER call_days_update_new AFTER UPDATE ON calls REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION call_days_add()",
    "CREATE TRIGGER call_days_delete AFTER DELETE ON calls REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION call_days_remove()",
    f"INSERT INTO call_days SELECT tenant_id, div(start_ms, {_DAY_MS}), count(*) FROM calls "
    "GROUP BY 1, 2",
)

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
            calls_table_sql("duckdb", columns=_FIRST_CALL_COLUMNS),
        ),
        postgres=(
            "CREATE TABLE tenants (tenant_id text PRIMARY KEY, region text NOT NULL, "
            "created_ms bigint NOT NULL)",
            "CREATE TABLE credentials (key_hash text PRIMARY KEY, tenant_id text NOT NULL "
            "REFERENCES tenants, key_id text NOT NULL, token_hash text NOT NULL, "
            "label text NOT NULL, created_ms bigint NOT NULL, revoked_ms bigint)",
            "CREATE INDEX credentials_tenant ON credentials (tenant_id)",
            calls_table_sql("postgres", columns=_FIRST_CALL_COLUMNS),
            "CREATE INDEX calls_by_start ON calls (tenant_id, start_ms DESC, call_id DESC)",
            *_optional_extension("pg_trgm", "callerName searches will scan the tenant''s calls"),
            *_optional_extension("btree_gin", "GIN indexes will not lead with tenant_id"),
            _POSTGRES_SEARCH_INDEXES,
        ),
    ),
    Migration(
        2,
        "sync watermarks",
        duckdb=(
            "CREATE TABLE sync_watermarks (tenant_id VARCHAR NOT NULL, source VARCHAR NOT NULL, "
            "watermark_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, "
            "PRIMARY KEY (tenant_id, source))",
        ),
        postgres=(
            "CREATE TABLE sync_watermarks (tenant_id text NOT NULL, source text NOT NULL, "
            "watermark_ms bigint NOT NULL, updated_ms bigint NOT NULL, "
            "PRIMARY KEY (tenant_id, source))",
        ),
    ),
    Migration(
        3,
        "audit trail of admin actions",
        duckdb=(
            "CREATE TABLE audit_log (at_ms BIGINT NOT NULL, actor VARCHAR NOT NULL, "
            "action VARCHAR NOT NULL, tenant_id VARCHAR NOT NULL, key_id VARCHAR NOT NULL, "
            "detail VARCHAR NOT NULL)",
        ),
        postgres=(
            "CREATE TABLE audit_log (at_ms bigint NOT NULL, actor text NOT NULL, "
            "action text NOT NULL, tenant_id text NOT NULL, key_id text NOT NULL, "
            "detail text NOT NULL)",
            "CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at_ms)",
        ),
    ),
    Migration(
        4,
        "tenant columns agree on collation",
        # Citus colocates tables only when their distribution columns agree in type and
        # collation: sync_watermarks.tenant_id follows calls.tenant_id (COLLATE "C"). And it
        # copies shards to a new node by logical replication, which needs a replica identity on
        # every table: audit_log, append-only and keyless, gets the whole row. DuckDB has one
        # collation and no replication.
        duckdb=(),
        postgres=(
            'ALTER TABLE sync_watermarks ALTER COLUMN tenant_id TYPE text COLLATE "C"',
            "ALTER TABLE audit_log REPLICA IDENTITY FULL",
        ),
    ),
    Migration(
        5,
        "audit trail in the order of its actions",
        # A frozen clock (RECENT_CALLS_NOW) gives actions the same time: `seq` orders them.
        duckdb=(
            "CREATE SEQUENCE audit_log_seq",
            "ALTER TABLE audit_log ADD COLUMN seq BIGINT DEFAULT nextval('audit_log_seq')",
        ),
        postgres=("ALTER TABLE audit_log ADD COLUMN seq bigserial",),
    ),
    Migration(
        6,
        "directory of display names",
        duckdb=(
            "CREATE TABLE directory (tenant_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
            "id VARCHAR NOT NULL, name VARCHAR NOT NULL, PRIMARY KEY (tenant_id, kind, id))",
        ),
        postgres=(
            'CREATE TABLE directory (tenant_id text COLLATE "C" NOT NULL, '
            'kind text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, '
            'name text COLLATE "C" NOT NULL, PRIMARY KEY (tenant_id, kind, id))',
        ),
    ),
    Migration(
        7,
        "calls per tenant and UTC day, kept by the database in every write's transaction",
        duckdb=(),  # DuckDB counts a tenant's calls from its zone maps in a few ms
        postgres=_POSTGRES_DAY_COUNTS,
    ),
    Migration(
        8,
        "credential scopes: existing credentials keep both",
        duckdb=("ALTER TABLE credentials ADD COLUMN scopes VARCHAR DEFAULT 'read,push'",),
        postgres=("ALTER TABLE credentials ADD COLUMN scopes text NOT NULL DEFAULT 'read,push'",),
    ),
    Migration(
        9,
        "tenant retention period, and the salt of erased callers' hashes",
        duckdb=(
            "ALTER TABLE tenants ADD COLUMN retention_ms BIGINT",
            "CREATE TABLE erasure_salt (salt VARCHAR PRIMARY KEY)",
        ),
        postgres=(
            "ALTER TABLE tenants ADD COLUMN retention_ms bigint",
            "CREATE TABLE erasure_salt (salt text PRIMARY KEY)",
        ),
    ),
    Migration(
        10,
        "a tenant's time zone, the one its people read times in",
        # Nullable: a tenant created before has none, and the console then uses the browser's.
        duckdb=("ALTER TABLE tenants ADD COLUMN timezone VARCHAR",),
        postgres=("ALTER TABLE tenants ADD COLUMN timezone text",),
    ),
    Migration(
        11,
        "the source's version of each call, so an older delivery never replaces a newer one",
        # Nullable and without a default: the calls stored before have no version (NULL), and
        # adding the column rewrites nothing (PostgreSQL; Citus propagates it to the shards).
        duckdb=("ALTER TABLE calls ADD COLUMN source_version BIGINT",),
        postgres=("ALTER TABLE calls ADD COLUMN source_version bigint",),
    ),
)
