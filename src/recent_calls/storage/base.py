"""The storage interface every engine implements, with the SQL that all engines share.

A read of a tenant's calls takes the bound `Tenant`; its WHERE clause starts from the tenant's
scope (scope.py), the one place a tenant condition is written. Rows come back typed
(`CallRow`, `Tenant`, `Credential`, ...); storage raises only the domain errors of errors.py.
"""

from __future__ import annotations

import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from recent_calls.circuit import Breaker
from recent_calls.clock import Clock, system_clock
from recent_calls.errors import DuplicateTenant
from recent_calls.query.breakdowns import Grouping, breakdown_of, build_breakdown, build_overall
from recent_calls.query.buckets import bucket_edges, build_stats, span_sql, summarise
from recent_calls.query.dialects import Dialect
from recent_calls.query.directory import Entry
from recent_calls.query.facets import facets_sql
from recent_calls.query.filters import Where, build_where, only_window
from recent_calls.query.ordering import Ordering
from recent_calls.query.request import CallQuery
from recent_calls.query.responses import FacetsResponse, StatsResponse
from recent_calls.query.searchkey import search_key
from recent_calls.query.windows import zone
from recent_calls.storage.columns import PAGE_SELECT, CallColumns, PagePart
from recent_calls.storage.migrations import MIGRATIONS
from recent_calls.storage.rows import AuditEntry, Credential, SearchResult, Tenant, UpsertResult
from recent_calls.storage.scope import TENANT_PARAM, scoped, tenant_condition

__all__ = [
    "AuditEntry",
    "CallImport",
    "Credential",
    "Rows",
    "Run",
    "SearchResult",
    "Storage",
    "Tenant",
    "UpsertResult",
]

DAY_MS = 86_400_000
"""A UTC day in ms: the unit of the calls per day (`_day_parts`)."""

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Run = Callable[[str, dict[str, Any]], Rows]
Tracer = Callable[[str, dict[str, Any]], None]


class CallImport(ABC):
    """Calls staged for one tenant, stored all at once by `commit` or not at all.

    Staging keeps memory flat however large the import. The rows are stored as if one at a
    time, in order: a row replaces the call stored under its callId unless both have a source
    version (the `source_version` column) and the stored one is newer; then the stored call is
    kept. A callId staged twice without versions keeps its last row.
    """

    def __enter__(self) -> CallImport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()

    @staticmethod
    @abstractmethod
    def encode(rows: Sequence[tuple[Any, ...]]) -> Any:
        """Rows in the form this engine stages fastest (a module-level function, so that import
        worker processes can run it and send the result: it must pickle cheaply)."""

    @staticmethod
    @abstractmethod
    def join(batches: Sequence[Any]) -> Any:
        """Batches that `encode` made, as one batch of all their rows in order (a module-level
        function too, for the same reason)."""

    def expect(self, calls: int) -> None:
        """A hint, before the first batch, that about `calls` calls are coming in all (an
        estimate from a file's size): an engine may store a large import another way. By
        default, no other way."""
        return None

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Stage rows (ROW_COLUMNS order)."""
        self.add_encoded(self.encode(rows), len(rows))

    @staticmethod
    @abstractmethod
    def encode_columns(columns: Sequence[Sequence[Any]]) -> Any:
        """Rows given as columns (ROW_COLUMNS order) in the form `encode` makes of them (a
        module-level function too, for the same reason)."""

    @abstractmethod
    def add_encoded(self, batch: Any, count: int) -> None:
        """Stage `count` rows that `encode` made into `batch`."""

    @abstractmethod
    def commit(self) -> UpsertResult:
        """Store everything staged in one transaction."""

    @abstractmethod
    def abort(self) -> None:
        """Drop whatever is staged; harmless after commit."""


_CREDENTIAL_COLUMNS = (
    "key_hash, tenant_id, key_id, token_hash, label, created_ms, revoked_ms, scopes"
)
_TENANT_COLUMNS = "tenant_id, region, created_ms, retention_ms, timezone"


def _credential(row: Sequence[Any]) -> Credential:
    # Scopes are stored as one comma-separated text; a NULL (a DuckDB row from before the
    # migration's default) holds both, as the migration promises.
    scopes = tuple(part for part in (row[7] or "read,push").split(",") if part)
    key_hash, tenant_id, key_id, token_hash, label, created_ms, revoked_ms = row[:7]
    return Credential(
        key_hash, tenant_id, key_id, token_hash, label, created_ms, revoked_ms, scopes
    )


class Storage(ABC):
    """A database of tenants, credentials and calls."""

    engine: str
    dialect: Dialect
    shared: bool
    """Whether other processes may change this database (a cache of it must then expire)."""
    # The longest a read may run before it is stopped (QueryTimeout); None: no limit. Engines
    # apply it to `_read`; set it with `set_statement_timeout`.
    statement_timeout_ms: int | None = None
    # The circuit breaker of a remote database (circuit.py); None for an embedded one.
    breaker: Breaker | None = None

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self._tracers: list[Tracer] = []
        self._auth_generation = 0
        self._auth_lock = threading.Lock()

    def set_statement_timeout(self, timeout_ms: int | None) -> None:
        """Stop reads that run longer than `timeout_ms` (0 or None: never)."""
        self.statement_timeout_ms = timeout_ms or None

    # -- statement tracing -------------------------------------------------------------------

    @contextmanager
    def trace(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Collect (sql, params) of every statement this storage runs while the block runs."""
        seen: list[tuple[str, dict[str, Any]]] = []

        def tracer(sql: str, params: dict[str, Any]) -> None:
            seen.append((sql, dict(params)))

        self._tracers.append(tracer)
        try:
            yield seen
        finally:
            self._tracers.remove(tracer)

    def _note(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Every engine calls this with each statement it runs (free when nobody traces)."""
        for tracer in self._tracers:
            tracer(sql, params or {})

    # -- engine primitives -------------------------------------------------------------------

    @abstractmethod
    def _read(self, work: Callable[[Run], T]) -> T:
        """Run `work` with a statement runner inside one consistent read snapshot."""

    @abstractmethod
    def _write(self, work: Callable[[Run], T]) -> T:
        """Run `work` with a statement runner inside one write transaction."""

    @abstractmethod
    def _is_unique_violation(self, error: Exception) -> bool:
        """Whether `error` is the engine's unique-key violation."""

    @abstractmethod
    def begin_import(self, tenant_id: str) -> CallImport:
        """Start staging calls for the tenant."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""

    @abstractmethod
    def pool_stats(self) -> dict[str, int]:
        """Connection figures for /metrics: `size` always, and the engine's others by name."""

    def compact(self) -> bool:
        """Re-cluster call data for fast scans when it needs it; True if it did work."""
        return False

    def maybe_compact(self) -> bool:
        """Compact only when enough unclustered data has arrived since the last time."""
        return False

    def after_import(self, changed_rows: int) -> None:
        """Make the calls a committed import changed (`changed_rows` of them) fast to query at
        once; engines whose reads need no upkeep do nothing."""
        return None

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migration steps this database lacks, in order; return their numbers."""

        def apply(run: Run) -> list[int]:
            self._lock_migrations(run)
            run(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name VARCHAR NOT NULL, applied_ms BIGINT NOT NULL)",
                {},
            )
            done = {row[0] for row in run("SELECT version FROM schema_migrations", {})}
            applied = []
            for step in MIGRATIONS:
                if step.version in done:
                    continue
                for statement in step.statements(self.engine):
                    run(statement, {})
                p = self.dialect.param
                run(
                    f"INSERT INTO schema_migrations VALUES ({p('v')}, {p('n')}, {p('t')})",
                    {"v": step.version, "n": step.name, "t": self.clock()},
                )
                applied.append(step.version)
            return applied

        return self._write(apply)

    def _lock_migrations(self, run: Run) -> None:
        """Make other processes that migrate the same database wait for this transaction
        (engines that several processes share)."""
        return None

    def schema_version(self) -> int:
        rows = self._read(lambda run: run("SELECT max(version) FROM schema_migrations", {}))
        return int(rows[0][0] or 0)

    def check_ready(self) -> int:
        """The schema version, once the database answers, its calls table can be read and it
        takes writes; else the StorageError that says why not."""
        version = self.schema_version()
        self.count_calls("")  # a read of the calls table, which every query needs
        self._check_writable()
        return version

    def _check_writable(self) -> None:
        """Raise a StorageError if the database would refuse a write now (engines that can)."""
        return None

    # -- tenants and credentials ---------------------------------------------------------------

    @property
    def auth_generation(self) -> int:
        """Goes up with every change this storage makes to tenants or credentials (caches of
        them compare it to know they are stale)."""
        return self._auth_generation

    def _auth_changed(self) -> None:
        with self._auth_lock:
            self._auth_generation += 1

    def create_tenant(
        self,
        tenant_id: str,
        region: str,
        *,
        credential: Credential | None = None,
        audit: AuditEntry | None = None,
        timezone: str | None = None,
    ) -> Tenant:
        """Create a tenant, with its first credential and the audit row when given, all in one
        transaction: a failure leaves none of them. DuplicateTenant when the id is taken."""
        tenant = Tenant(tenant_id, region, self.clock(), timezone=timezone)
        p = self.dialect.param

        def create(run: Run) -> None:
            # Columns named: later steps add columns with defaults that this insert leaves be.
            run(
                "INSERT INTO tenants (tenant_id, region, created_ms, timezone) "
                f"VALUES ({p('id')}, {p('region')}, {p('t')}, {p('zone')})",
                {"id": tenant_id, "region": region, "t": tenant.created_ms, "zone": timezone},
            )
            if credential is not None:
                self._insert_credential(run, credential)
            if audit is not None:
                self._insert_audit(run, audit)

        try:
            self._write(create)
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise DuplicateTenant(tenant_id) from None
            raise
        finally:
            self._auth_changed()
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE tenant_id = {p('id')}",
                {"id": tenant_id},
            )
        )
        return Tenant(*rows[0]) if rows else None

    def list_tenants(self) -> list[Tenant]:
        rows = self._read(lambda run: run(f"SELECT {_TENANT_COLUMNS} FROM tenants ORDER BY 1", {}))
        return [Tenant(*row) for row in rows]

    def set_tenant_timezone(
        self, tenant_id: str, timezone: str | None, audit: AuditEntry | None = None
    ) -> bool:
        """Set (or with None, clear) the tenant's zone, with its audit row in one transaction;
        False when there is no such tenant."""
        p = self.dialect.param

        def update(run: Run) -> bool:
            found = run(
                f"SELECT tenant_id FROM tenants WHERE tenant_id = {p('id')}", {"id": tenant_id}
            )
            if not found:
                return False
            run(
                f"UPDATE tenants SET timezone = {p('zone')} WHERE tenant_id = {p('id')}",
                {"id": tenant_id, "zone": timezone},
            )
            if audit is not None:
                self._insert_audit(run, audit)
            return True

        try:
            return self._write(update)
        finally:
            self._auth_changed()  # cached tenants carry the zone

    def _insert_credential(self, run: Run, credential: Credential) -> None:
        p = self.dialect.param
        run(
            "INSERT INTO credentials (key_hash, tenant_id, key_id, token_hash, label, "
            f"created_ms, scopes) VALUES ({p('kh')}, {p('t')}, {p('k')}, {p('th')}, {p('l')}, "
            f"{p('c')}, {p('s')})",
            {
                "kh": credential.key_hash,
                "t": credential.tenant_id,
                "k": credential.key_id,
                "th": credential.token_hash,
                "l": credential.label,
                "c": credential.created_ms,
                "s": ",".join(credential.scopes),
            },
        )

    def add_credential(self, credential: Credential) -> None:
        try:
            self._write(lambda run: self._insert_credential(run, credential))
        finally:
            self._auth_changed()

    def credential_by_key(self, key_hash: str) -> Credential | None:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE key_hash = {p('kh')}",
                {"kh": key_hash},
            )
        )
        return _credential(rows[0]) if rows else None

    def list_credentials(self, tenant_id: str) -> list[Credential]:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = {p('t')} "
                "ORDER BY created_ms, key_id",
                {"t": tenant_id},
            )
        )
        return [_credential(row) for row in rows]

    def revoke_credential(self, tenant_id: str, key_id: str, at_ms: int | None = None) -> bool:
        """Revoke one live credential of the tenant now, or from `at_ms` on (an expiry);
        False if it has no live credential by that id."""
        p = self.dialect.param
        now = self.clock()

        def revoke(run: Run) -> bool:
            # A credential with revoked_ms in the future is still live (a rotation's grace).
            found = run(
                f"SELECT key_hash FROM credentials WHERE tenant_id = {p('t')} AND key_id = {p('k')}"
                f" AND (revoked_ms IS NULL OR revoked_ms > {p('now')})",
                {"t": tenant_id, "k": key_id, "now": now},
            )
            if not found:
                return False
            run(
                f"UPDATE credentials SET revoked_ms = {p('at')} WHERE key_hash = {p('kh')}",
                {"at": now if at_ms is None else at_ms, "kh": found[0][0]},
            )
            return True

        try:
            return self._write(revoke)
        finally:
            self._auth_changed()

    def set_retention(self, tenant_id: str, retention_ms: int | None) -> bool:
        """Set (or clear, with None) the tenant's retention period; False if no such tenant."""
        p = self.dialect.param

        def store(run: Run) -> bool:
            found = run(f"SELECT 1 FROM tenants WHERE tenant_id = {p('t')}", {"t": tenant_id})
            if found:
                run(
                    f"UPDATE tenants SET retention_ms = {p('r')} WHERE tenant_id = {p('t')}",
                    {"r": retention_ms, "t": tenant_id},
                )
            return bool(found)

        try:
            return self._write(store)
        finally:
            self._auth_changed()

    def erasure_salt(self) -> str:
        """The database's secret salt for erased callers' hashes in the audit, made once."""
        p = self.dialect.param

        def salt(run: Run) -> str:
            found = run("SELECT min(salt) FROM erasure_salt", {})
            if found and found[0][0]:
                return str(found[0][0])
            run(f"INSERT INTO erasure_salt VALUES ({p('s')})", {"s": secrets.token_hex(16)})
            # Two processes racing here keep one salt between them: the smallest.
            return str(run("SELECT min(salt) FROM erasure_salt", {})[0][0])

        return self._write(salt)

    # -- audit trail -------------------------------------------------------------------------

    def _insert_audit(self, run: Run, entry: AuditEntry) -> None:
        p = self.dialect.param
        run(
            "INSERT INTO audit_log (at_ms, actor, action, tenant_id, key_id, detail) "
            f"VALUES ({p('at')}, {p('actor')}, {p('action')}, {p('t')}, {p('k')}, {p('detail')})",
            {
                "at": entry.at_ms,
                "actor": entry.actor,
                "action": entry.action,
                "t": entry.tenant_id,
                "k": entry.key_id,
                "detail": entry.detail,
            },
        )

    def add_audit(self, entry: AuditEntry) -> None:
        """Record one admin action."""
        self._write(lambda run: self._insert_audit(run, entry))

    def list_audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest admin actions, newest first; of one tenant when given."""
        p = self.dialect.param
        where = f"WHERE tenant_id = {p('t')} " if tenant_id is not None else ""
        rows = self._read(
            lambda run: run(
                "SELECT at_ms, actor, action, tenant_id, key_id, detail FROM audit_log "
                f"{where}ORDER BY at_ms DESC, seq DESC LIMIT {p('limit')}",
                {"t": tenant_id, "limit": limit} if tenant_id is not None else {"limit": limit},
            )
        )
        return [AuditEntry(*row) for row in rows]

    # -- sync watermarks ---------------------------------------------------------------------

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        """The start time (epoch ms) up to which the tenant is synced from `source`, if any."""
        where = scoped(tenant_id, self.dialect)
        where.add(f"source = {where.bind('source', source)}")
        rows = self._read(
            lambda run: run(
                f"SELECT watermark_ms FROM sync_watermarks WHERE {where.sql}", where.params
            )
        )
        return int(rows[0][0]) if rows else None

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        """Record the tenant's sync watermark for `source`."""
        where = scoped(tenant_id, self.dialect)
        where.add(f"source = {where.bind('source', source)}")
        p = self.dialect.param
        params = {**where.params, "w": watermark_ms, "now": self.clock()}

        def store(run: Run) -> None:
            run(f"DELETE FROM sync_watermarks WHERE {where.sql}", params)
            run(
                f"INSERT INTO sync_watermarks VALUES ({p('tenant_id')}, {p('source')}, "
                f"{p('w')}, {p('now')})",
                params,
            )

        self._write(store)

    # -- calls -------------------------------------------------------------------------------

    def upsert_calls(self, tenant_id: str, rows: Sequence[tuple[Any, ...]]) -> UpsertResult:
        """Store rows (ROW_COLUMNS order) for the tenant atomically, replacing by callId
        (a call stored with a newer source version is kept; see `CallImport`)."""
        with self.begin_import(tenant_id) as staged:
            staged.add(rows)
            return staged.commit()

    def delete_calls(self, tenant_id: str) -> int:
        """Delete every call of the tenant; return how many there were."""
        where = scoped(tenant_id, self.dialect)

        def delete(run: Run) -> int:
            count = int(run(f"SELECT count(*) FROM calls WHERE {where.sql}", where.params)[0][0])
            run(f"DELETE FROM calls WHERE {where.sql}", where.params)
            return count

        return self._write(delete)

    def _caller_where(self, tenant_id: str, digits: str | None, name: str | None) -> Where:
        """The tenant's calls from one caller: the number's digits equal (whatever was written
        around them: `+1 (732) 555-0100` is 17325550100), or the name equal after folding."""
        where = scoped(tenant_id, self.dialect)
        if digits:
            where.add(
                f"regexp_replace(caller_number, '[^0-9]', '', 'g') = {where.bind('digits', digits)}"
            )
        if name:
            where.add(f"caller_name_key = {where.bind('name_key', search_key(name))}")
        return where

    def _started_before(self, tenant_id: str, before_ms: int) -> Where:
        where = scoped(tenant_id, self.dialect)
        where.add(f"start_ms < {where.bind('before', before_ms)}")
        return where

    def _delete_batch(self, where: Where, batch: int) -> int:
        """Delete at most `batch` of the calls `where` selects, in one short transaction (so
        reads and writes wait at most for one batch); return how many. PostgreSQL's per-day
        counts change by the same rows in the same transaction (their trigger)."""
        key = self.dialect.row_key
        p = self.dialect.param
        sql = (
            f"DELETE FROM calls WHERE {where.sql} AND {key} IN (SELECT {key} FROM calls "
            f"WHERE {where.sql} LIMIT {p('batch')}) RETURNING 1"
        )
        return len(self._write(lambda run: run(sql, {**where.params, "batch": batch})))

    def _delete_all(self, where: Where, batch: int) -> int:
        deleted = 0
        while True:
            done = self._delete_batch(where, batch)
            deleted += done
            if done < batch:
                return deleted

    def delete_started_before(self, tenant_id: str, before_ms: int, batch: int = 10_000) -> int:
        """Delete the tenant's calls that started before `before_ms`, `batch` per transaction;
        return how many."""
        return self._delete_all(self._started_before(tenant_id, before_ms), batch)

    def call_ids_between(
        self, tenant_id: str, low_ms: int, high_ms: int, after: str | None, limit: int
    ) -> list[str]:
        """The callIds of the tenant's calls that started in [low_ms, high_ms), in callId order
        after `after` (a keyset page of at most `limit`)."""
        where = scoped(tenant_id, self.dialect)
        where.add(f"start_ms >= {where.bind('low', low_ms)}")
        where.add(f"start_ms < {where.bind('high', high_ms)}")
        key = self.dialect.text_key("call_id")
        if after is not None:
            where.add(f"{key} > {where.bind('after', after)}")
        sql = (
            f"SELECT call_id FROM calls WHERE {where.sql} ORDER BY {key} "
            f"LIMIT {self.dialect.param('limit')}"
        )
        rows = self._read(lambda run: run(sql, {**where.params, "limit": limit}))
        return [str(row[0]) for row in rows]

    def delete_call_ids(self, tenant_id: str, call_ids: Sequence[str]) -> int:
        """Delete the tenant's calls with these callIds in one transaction; return how many
        there were."""
        if not call_ids:
            return 0
        where = scoped(tenant_id, self.dialect)
        where.params["ids"] = list(call_ids)
        where.add(self.dialect.one_of("call_id", "ids"))
        sql = f"DELETE FROM calls WHERE {where.sql} RETURNING 1"
        return len(self._write(lambda run: run(sql, where.params)))

    def caller_calls(
        self, tenant_id: str, digits: str | None, name: str | None, limit: int = 10
    ) -> tuple[int, list[tuple[str, int, str, str]]]:
        """How many calls one caller has, and the newest `limit` (callId, start, name, number)."""
        where = self._caller_where(tenant_id, digits, name)

        def read(run: Run) -> tuple[int, list[tuple[str, int, str, str]]]:
            count = int(run(f"SELECT count(*) FROM calls WHERE {where.sql}", where.params)[0][0])
            rows = run(
                "SELECT call_id, start_ms, caller_name, caller_number FROM calls "
                f"WHERE {where.sql} ORDER BY start_ms DESC, call_id DESC "
                f"LIMIT {self.dialect.param('limit')}",
                {**where.params, "limit": limit},
            )
            return count, [(str(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

        return self._read(read)

    def erase_caller(
        self, tenant_id: str, digits: str | None, name: str | None, batch: int = 10_000
    ) -> int:
        """Delete every call of one caller (see `_caller_where`), `batch` per transaction."""
        if not digits and not name:
            raise ValueError("an erasure needs a number or a name")
        return self._delete_all(self._caller_where(tenant_id, digits, name), batch)

    def count_calls(self, tenant_id: str) -> int:
        where = scoped(tenant_id, self.dialect)
        rows = self._read(
            lambda run: run(f"SELECT count(*) FROM calls WHERE {where.sql}", where.params)
        )
        return int(rows[0][0])

    def _where(self, tenant: Tenant, query: CallQuery) -> Where:
        return build_where(query, scoped(tenant.tenant_id, self.dialect))

    def _hits(self, run: Run, where: Where, query: CallQuery) -> int:
        """The exact number of calls `where` selects (engines may know it without a count)."""
        return int(run(f"SELECT count(*) FROM calls WHERE {where.sql}", where.params)[0][0])

    def _page_sql(self, where_sql: str, ordering: Ordering, also: str = "") -> str:
        # Late materialisation: sort only row keys and sort keys, then build whole rows (three
        # arrays joined into text each) for the one page, found again by their row key. `also`:
        # more expressions after the page's columns.
        key, p = self.dialect.row_key, self.dialect.param
        return (
            f"SELECT {PAGE_SELECT}{also} FROM calls WHERE {tenant_condition(self.dialect)} "
            f"AND {key} IN (SELECT {key} FROM calls WHERE {where_sql} "
            f"ORDER BY {ordering.clause} LIMIT {p('limit')} OFFSET {p('skip')}) "
            f"ORDER BY {ordering.clause}"
        )

    def search(
        self, tenant: Tenant, query: CallQuery, each: PagePart | None = None
    ) -> SearchResult:
        """Exact hits and one page of the tenant's calls matching `query` (query/ordering.py).

        Given `each`, an engine that reads a large page as the server sends it (PostgreSQL)
        hands the page to it a part at a time, in order, as each part arrives, so that the
        caller's work on one part (rendering it) overlaps the server's on the next; the result
        then holds what `each` returned (`parts`) instead of the page. A page read whole comes
        as the page, as without `each` (handing it to `each` too measured slower on DuckDB)."""
        where = self._where(tenant, query)
        ordering = Ordering.of(query, self.dialect)

        def page(run: Run) -> SearchResult:
            hits = self._hits(run, where, query)
            offset = query.offset
            if offset >= hits:
                return SearchResult(hits)
            condition, params = where.sql, dict(where.params)
            if offset > 0:
                params["boundary"], before = self._boundary(run, where, query, ordering, hits)
                condition = f"{condition} AND {ordering.at_or_after('boundary')}"
                offset -= before
            params.update(limit=query.rows, skip=offset)
            page_sql = self._page_sql(condition, ordering)
            rows = min(query.rows, hits - query.offset)
            parts = None if each is None else self._page_parts(run, page_sql, params, rows, each)
            if parts is not None:
                return SearchResult(hits, parts=parts)
            return SearchResult(hits, self._page_columns(run, page_sql, params, rows))

        return self._read(page)

    def _boundary(
        self, run: Run, where: Where, query: CallQuery, ordering: Ordering, hits: int
    ) -> tuple[Any, int]:
        """The sort key's value at the query's offset (a page's first call), and how many of
        the `hits` calls sort strictly before it: steps 1 and 2 of query/ordering.py's plan,
        through the calls per day where the engine counts them (`_boundary_by_days`)."""
        by_days = self._boundary_by_days(run, where, query, ordering, hits)
        if by_days is not None:
            return by_days
        return self._plain_boundary(run, where, query, ordering, hits)

    def _plain_boundary(
        self, run: Run, where: Where, query: CallQuery, ordering: Ordering, hits: int
    ) -> tuple[Any, int]:
        """`_boundary` by the plain plan: the sort key's value at the offset from the nearer
        end of the hits, then the calls before it counted."""
        offset = query.offset
        params = dict(where.params)
        from_end = 2 * offset > hits  # nearer the last call: count from there
        skip = hits - 1 - offset if from_end else offset
        boundary_sql = ordering.boundary_sql(where.sql, from_end=from_end)
        params["boundary"] = run(boundary_sql, {**params, "skip": skip})[0][0]
        if from_end:
            after = int(run(ordering.at_or_after_sql(where.sql), params)[0][0])
            return params["boundary"], hits - after
        return params["boundary"], int(run(ordering.before_sql(where.sql), params)[0][0])

    def _day_parts(
        self, run: Run, where: Where, query: CallQuery, hits: int
    ) -> list[tuple[int, int, int | None]] | None:
        """The window cut in parts by UTC day, in ascending time: (start ms, end ms, calls, or
        None to be counted), for `_boundary_by_days`; None where the engine has no cheaper way
        to the query's offset than the plain plan."""
        return None

    def _boundary_by_days(
        self, run: Run, where: Where, query: CallQuery, ordering: Ordering, hits: int
    ) -> tuple[Any, int] | None:
        """`_boundary` for a query by its window alone in start-time order, through the
        window's calls per day (`_day_parts`): the days before the page's first call are
        passed by their counts, and the index is walked inside one day only, from its nearer
        end. The plain plan walks the calls up to the offset, so deep pages cost what the
        first does. None when it does not apply (or the counts disagree with the calls)."""
        if ordering.key != "start_ms" or not only_window(query):
            return None
        parts = self._day_parts(run, where, query, hits)
        if parts is None:
            return None
        if ordering.descending:
            parts.reverse()
        p = self.dialect.param
        inside = f"{where.sql} AND start_ms >= {p('part_start')} AND start_ms < {p('part_end')}"
        offset, passed = query.offset, 0
        for part_start, part_end, counted in parts:
            if part_start >= part_end:
                continue
            params = {**where.params, "part_start": part_start, "part_end": part_end}
            if counted is None:
                counted = int(run(f"SELECT count(*) FROM calls WHERE {inside}", params)[0][0])
            if passed + counted > offset:
                found = self._boundary_inside(
                    run, inside, params, ordering, offset - passed, counted
                )
                return None if found is None else (found[0], passed + found[1])
            passed += counted
        return None

    def _boundary_inside(
        self,
        run: Run,
        inside: str,
        params: dict[str, Any],
        ordering: Ordering,
        skip: int,
        counted: int,
    ) -> tuple[Any, int] | None:
        """The start time of the `skip`th call (from 0) of the `counted` calls `inside` one
        part of the window, in the page's order, and how many of them sort before it; walked
        from the nearer end of the part. None if the part holds fewer calls than counted."""
        from_end = 2 * skip > counted
        direction = ordering.direction
        if from_end:
            direction = "ASC" if ordering.descending else "DESC"
        found = run(
            f"SELECT start_ms FROM calls WHERE {inside} "
            f"ORDER BY start_ms {direction} LIMIT 1 OFFSET {self.dialect.param('skip')}",
            {**params, "skip": counted - 1 - skip if from_end else skip},
        )
        if not found:
            return None
        params = {**params, "boundary": found[0][0]}
        if from_end:
            after = run(
                f"SELECT count(*) FROM calls WHERE {inside} AND {ordering.at_or_after('boundary')}",
                params,
            )[0][0]
            return params["boundary"], counted - int(after)
        before = run(
            f"SELECT count(*) FROM calls WHERE {inside} AND {ordering.sorts_before('boundary')}",
            params,
        )[0][0]
        return params["boundary"], int(before)

    def _page_columns(self, run: Run, sql: str, params: dict[str, Any], rows: int) -> CallColumns:
        """A page of `rows` calls (PAGE_SELECT) as columns. An engine that can fetch columns
        overrides this: turning 5000 rows of 28 values into Python tuples is most of a page's
        cost."""
        return CallColumns.of_rows(run(sql, params))

    def _page_parts(
        self, run: Run, sql: str, params: dict[str, Any], rows: int, each: PagePart
    ) -> tuple[Any, ...] | None:
        """`each` of the page a part at a time, in order, as it arrives (`search`); None for a
        page this engine reads whole (`_page_columns`)."""
        return None

    def stats(
        self, tenant: Tenant, query: CallQuery, interval: str, grouping: Grouping | None = None
    ) -> StatsResponse:
        """The tenant's matching calls per local hour or day of the query's window, with totals
        (query/buckets.py), and broken down by `grouping` when given (query/breakdowns.py), all
        from one snapshot. TooManyBuckets when the window holds more buckets than one answer may."""
        where = self._where(tenant, query)
        scope = scoped(tenant.tenant_id, self.dialect)
        tz = zone(query.timezone)

        def aggregate(run: Run) -> StatsResponse:
            # One snapshot: the span of allhistory and the buckets agree while calls arrive.
            start, end = query.window.start_ms, query.window.end_ms
            if start is None or end is None:
                first, last = run(*span_sql(scope))[0]
                start = first if start is None else start
                end = (last + 1 if last is not None else None) if end is None else end
            if start is None or end is None or end <= start:
                answer = summarise(tenant.tenant_id, query, interval, [], [])
            else:
                edges = bucket_edges(start, end, interval, tz)
                compiled = build_stats(where, edges)
                found = run(compiled.sql, compiled.params)
                answer = summarise(tenant.tenant_id, query, interval, edges, found)
            if grouping is not None:
                grouped = build_breakdown(where, grouping)
                overall = build_overall(where, grouping)
                answer.breakdown = breakdown_of(
                    grouping, run(grouped.sql, grouped.params), run(overall.sql, overall.params)[0]
                )
            return answer

        return self._read(aggregate)

    def facets(self, tenant: Tenant) -> FacetsResponse:
        """The distinct agents, queues, groups and channels of the tenant's calls."""
        statements = facets_sql(scoped(tenant.tenant_id, self.dialect))

        def read(run: Run) -> dict[str, list[str]]:
            return {
                facet: [str(row[0]) for row in run(sql, params)]
                for facet, (sql, params) in statements.items()
            }

        return FacetsResponse(
            tenantId=tenant.tenant_id, timezone=tenant.timezone, **self._read(read)
        )

    # -- directory of display names --------------------------------------------------------

    def replace_directory(self, tenant_id: str, entries: Sequence[Entry]) -> int:
        """Make `entries` the tenant's whole directory, atomically; return how many."""
        where = scoped(tenant_id, self.dialect)
        tenant = self.dialect.param(TENANT_PARAM)
        p = self.dialect.param

        def replace(run: Run) -> int:
            run(f"DELETE FROM directory WHERE {where.sql}", where.params)
            for first in range(0, len(entries), _DIRECTORY_BATCH):
                batch = entries[first : first + _DIRECTORY_BATCH]
                params: dict[str, Any] = dict(where.params)
                values = []
                for n, entry in enumerate(batch):
                    params.update({f"k{n}": entry.kind, f"i{n}": entry.id, f"n{n}": entry.name})
                    values.append(f"({tenant}, {p(f'k{n}')}, {p(f'i{n}')}, {p(f'n{n}')})")
                run(f"INSERT INTO directory VALUES {', '.join(values)}", params)
            return len(entries)

        return self._write(replace)

    def directory(self, tenant_id: str) -> list[Entry]:
        """The tenant's directory entries, by kind and id."""
        where = scoped(tenant_id, self.dialect)
        order = f"{self.dialect.text_key('kind')}, {self.dialect.text_key('id')}"
        rows = self._read(
            lambda run: run(
                f"SELECT kind, id, name FROM directory WHERE {where.sql} ORDER BY {order}",
                where.params,
            )
        )
        return [Entry(*row) for row in rows]

    def directory_ids(self, tenant_id: str) -> dict[str, list[tuple[str, int]]]:
        """Per directory kind, the distinct non-empty ids the tenant's calls hold and how many
        calls hold each, most first (what a directory can name)."""
        where = scoped(tenant_id, self.dialect)
        statements = {
            kind: (
                f"SELECT value, count(*) FROM (SELECT {value} AS value FROM calls "
                f"WHERE {where.sql}) AS v WHERE value <> '' GROUP BY value "
                f"ORDER BY 2 DESC, {self.dialect.text_key('value')}"
            )
            for kind, value in (
                ("agent", "unnest(agent_ids)"),
                ("queue", "unnest(queue_ids)"),
                ("group", "unnest(agent_groups)"),
                ("channel", "dialed_number"),
            )
        }

        def read(run: Run) -> dict[str, list[tuple[str, int]]]:
            return {
                kind: [(str(row[0]), int(row[1])) for row in run(sql, where.params)]
                for kind, sql in statements.items()
            }

        return self._read(read)


_DIRECTORY_BATCH = 500
