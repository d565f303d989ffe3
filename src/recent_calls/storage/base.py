"""The storage interface every engine implements, with the SQL that all engines share.

Every method that touches calls takes the tenant as a required argument; the filter compiler
puts it first in every WHERE clause.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..dialects import Dialect
from ..errors import Conflict
from ..filters import build_where
from ..ordering import Ordering
from ..query import CallQuery
from ..render import SELECT_SQL
from .migrations import MIGRATIONS

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Run = Callable[[str, dict[str, Any]], Rows]


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    region: str
    created_ms: int


@dataclass(frozen=True)
class Credential:
    """A credential as stored: hashes only, never the secrets."""

    key_hash: str
    tenant_id: str
    key_id: str
    token_hash: str
    label: str
    created_ms: int
    revoked_ms: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One admin action: who did what to which tenant and credential, and when; no secrets."""

    at_ms: int
    actor: str
    action: str
    tenant_id: str
    key_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class UpsertResult:
    received: int
    inserted: int
    replaced: int


@dataclass(frozen=True)
class SearchResult:
    hits: int
    rows: Rows


class CallImport(ABC):
    """Calls staged for one tenant, stored all at once by `commit` or not at all.

    Staging keeps memory flat however large the import; a callId staged twice keeps its last
    version, and a callId already stored is replaced.
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

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Stage rows (ROW_COLUMNS order)."""
        self.add_encoded(self.encode(rows), len(rows))

    @abstractmethod
    def add_encoded(self, batch: Any, count: int) -> None:
        """Stage `count` rows that `encode` made into `batch`."""

    @abstractmethod
    def commit(self) -> UpsertResult:
        """Store everything staged in one transaction."""

    @abstractmethod
    def abort(self) -> None:
        """Drop whatever is staged; harmless after commit."""


class Storage(ABC):
    """A database of tenants, credentials and calls."""

    engine: str
    dialect: Dialect
    # The longest a read may run before it is stopped and answered as ServiceUnavailable (503);
    # None: no limit. Engines apply it to `_read`; set it with `set_statement_timeout`.
    statement_timeout_ms: int | None = None

    def set_statement_timeout(self, timeout_ms: int | None) -> None:
        """Stop reads that run longer than `timeout_ms` (0 or None: never)."""
        self.statement_timeout_ms = timeout_ms or None

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

    def compact(self) -> bool:
        """Re-cluster call data for fast scans when it needs it; True if it did work."""
        return False

    def maybe_compact(self) -> bool:
        """Compact only when enough unclustered data has arrived since the last time."""
        return False

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migration steps this database lacks, in order; return their numbers."""

        def apply(run: Run) -> list[int]:
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
                    {"v": step.version, "n": step.name, "t": _now_ms()},
                )
                applied.append(step.version)
            return applied

        return self._write(apply)

    def schema_version(self) -> int:
        rows = self._read(lambda run: run("SELECT max(version) FROM schema_migrations", {}))
        return int(rows[0][0] or 0)

    # -- tenants -----------------------------------------------------------------------------

    def create_tenant(self, tenant_id: str, region: str) -> Tenant:
        tenant = Tenant(tenant_id, region, _now_ms())
        p = self.dialect.param
        try:
            self._write(
                lambda run: run(
                    f"INSERT INTO tenants VALUES ({p('id')}, {p('region')}, {p('t')})",
                    {"id": tenant_id, "region": region, "t": tenant.created_ms},
                )
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise Conflict(f"tenant {tenant_id!r} already exists") from None
            raise
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT tenant_id, region, created_ms FROM tenants WHERE tenant_id = {p('id')}",
                {"id": tenant_id},
            )
        )
        return Tenant(*rows[0]) if rows else None

    def list_tenants(self) -> list[Tenant]:
        rows = self._read(
            lambda run: run("SELECT tenant_id, region, created_ms FROM tenants ORDER BY 1", {})
        )
        return [Tenant(*row) for row in rows]

    # -- credentials -------------------------------------------------------------------------

    def add_credential(self, credential: Credential) -> None:
        p = self.dialect.param
        self._write(
            lambda run: run(
                "INSERT INTO credentials (key_hash, tenant_id, key_id, token_hash, label, "
                f"created_ms) VALUES ({p('kh')}, {p('t')}, {p('k')}, {p('th')}, {p('l')}, "
                f"{p('c')})",
                {
                    "kh": credential.key_hash,
                    "t": credential.tenant_id,
                    "k": credential.key_id,
                    "th": credential.token_hash,
                    "l": credential.label,
                    "c": credential.created_ms,
                },
            )
        )

    _CREDENTIAL_COLUMNS = "key_hash, tenant_id, key_id, token_hash, label, created_ms, revoked_ms"

    def credential_by_key(self, key_hash: str) -> Credential | None:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT {self._CREDENTIAL_COLUMNS} FROM credentials WHERE key_hash = {p('kh')}",
                {"kh": key_hash},
            )
        )
        return Credential(*rows[0]) if rows else None

    def list_credentials(self, tenant_id: str) -> list[Credential]:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT {self._CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = {p('t')} "
                "ORDER BY created_ms, key_id",
                {"t": tenant_id},
            )
        )
        return [Credential(*row) for row in rows]

    def revoke_credential(self, tenant_id: str, key_id: str, at_ms: int | None = None) -> bool:
        """Revoke one live credential of the tenant now, or from `at_ms` on (an expiry);
        False if it has no live credential by that id."""
        p = self.dialect.param
        now = _now_ms()

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

        return self._write(revoke)

    # -- audit trail -------------------------------------------------------------------------

    def add_audit(self, entry: AuditEntry) -> None:
        """Record one admin action."""
        p = self.dialect.param
        self._write(
            lambda run: run(
                f"INSERT INTO audit_log VALUES ({p('at')}, {p('actor')}, {p('action')}, "
                f"{p('t')}, {p('k')}, {p('detail')})",
                {
                    "at": entry.at_ms,
                    "actor": entry.actor,
                    "action": entry.action,
                    "t": entry.tenant_id,
                    "k": entry.key_id,
                    "detail": entry.detail,
                },
            )
        )

    def list_audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest admin actions, newest first; of one tenant when given."""
        p = self.dialect.param
        where = f"WHERE tenant_id = {p('t')} " if tenant_id is not None else ""
        rows = self._read(
            lambda run: run(
                "SELECT at_ms, actor, action, tenant_id, key_id, detail FROM audit_log "
                f"{where}ORDER BY at_ms DESC LIMIT {p('limit')}",
                {"t": tenant_id, "limit": limit} if tenant_id is not None else {"limit": limit},
            )
        )
        return [AuditEntry(*row) for row in rows]

    # -- sync watermarks ---------------------------------------------------------------------

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        """The start time (epoch ms) up to which the tenant is synced from `source`, if any."""
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT watermark_ms FROM sync_watermarks WHERE tenant_id = {p('t')} "
                f"AND source = {p('s')}",
                {"t": tenant_id, "s": source},
            )
        )
        return int(rows[0][0]) if rows else None

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        """Record the tenant's sync watermark for `source`."""
        p = self.dialect.param
        params = {"t": tenant_id, "s": source, "w": watermark_ms, "now": _now_ms()}

        def store(run: Run) -> None:
            where = f"tenant_id = {p('t')} AND source = {p('s')}"
            run(f"DELETE FROM sync_watermarks WHERE {where}", params)
            run(
                f"INSERT INTO sync_watermarks VALUES ({p('t')}, {p('s')}, {p('w')}, {p('now')})",
                params,
            )

        self._write(store)

    # -- calls -------------------------------------------------------------------------------

    def upsert_calls(self, tenant_id: str, rows: Sequence[tuple[Any, ...]]) -> UpsertResult:
        """Store rows (ROW_COLUMNS order) for the tenant atomically, replacing by callId."""
        with self.begin_import(tenant_id) as staged:
            staged.add(rows)
            return staged.commit()

    def delete_calls(self, tenant_id: str) -> int:
        """Delete every call of the tenant; return how many there were."""
        condition, params = f"tenant_id = {self.dialect.param('t')}", {"t": tenant_id}

        def delete(run: Run) -> int:
            count = int(run(f"SELECT count(*) FROM calls WHERE {condition}", params)[0][0])
            run(f"DELETE FROM calls WHERE {condition}", params)
            return count

        return self._write(delete)

    def count_calls(self, tenant_id: str) -> int:
        p = self.dialect.param
        rows = self._read(
            lambda run: run(
                f"SELECT count(*) FROM calls WHERE tenant_id = {p('t')}", {"t": tenant_id}
            )
        )
        return int(rows[0][0])

    def _page_sql(self, where_sql: str, ordering: Ordering) -> str:
        p = self.dialect.param
        return (
            f"SELECT {SELECT_SQL} FROM calls WHERE {where_sql} ORDER BY {ordering.clause} "
            f"LIMIT {p('limit')} OFFSET {p('skip')}"
        )

    def search(self, tenant_id: str, query: CallQuery) -> SearchResult:
        """Exact hits and one page of the tenant's calls matching `query` (see ordering.py)."""
        where = build_where(tenant_id, query, self.dialect)
        ordering = Ordering.of(query, self.dialect)

        def page(run: Run) -> SearchResult:
            hits = int(run(f"SELECT count(*) FROM calls WHERE {where.sql}", where.params)[0][0])
            offset = query.offset
            if offset >= hits:
                return SearchResult(hits, [])
            condition, params = where.sql, dict(where.params)
            if offset > 0:
                from_end = 2 * offset > hits  # nearer the last call: count from there
                skip = hits - 1 - offset if from_end else offset
                boundary_sql = ordering.boundary_sql(where.sql, from_end=from_end)
                params["boundary"] = run(boundary_sql, {**params, "skip": skip})[0][0]
                if from_end:
                    after = int(run(ordering.at_or_after_sql(where.sql), params)[0][0])
                    before = hits - after
                else:
                    before = int(run(ordering.before_sql(where.sql), params)[0][0])
                condition = f"{condition} AND {ordering.at_or_after('boundary')}"
                offset -= before
            params.update(limit=query.rows, skip=offset)
            return SearchResult(hits, run(self._page_sql(condition, ordering), params))

        return self._read(page)

    def after_import(self, changed_rows: int) -> None:
        """Make the calls a committed import changed (`changed_rows` of them) fast to query at
        once; engines whose reads need no upkeep do nothing."""
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
