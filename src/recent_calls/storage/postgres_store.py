"""The server engine: PostgreSQL through a pool of psycopg 3 connections.

Reads run in REPEATABLE READ, READ ONLY transactions, so the hit count and the page of one
search see the same snapshot. An import holds one connection for its life: each batch goes by
binary COPY into a temporary table and is upserted from there into `calls`, all inside one
transaction that `commit` ends, on a worker thread so that the server stores one batch while
the caller parses the next. Connection failures, pool exhaustion, statement timeouts and
deadlocks surface as `ServiceUnavailable` (503 with Retry-After) instead of a 500.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from ..dialects import POSTGRES
from ..errors import ServiceUnavailable
from ..ordering import Ordering
from ..records import COLUMNS, LIST_COLUMNS, ROW_COLUMNS
from ..render import SELECT_SQL
from .base import CallImport, Rows, Run, Storage, UpsertResult

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

log = logging.getLogger(__name__)

_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"

# Staged rows: `seq` (a row's place in its batch: the last of a callId wins), then ROW_COLUMNS,
# list columns as array literals in text, all sent as COPY text made by the import's workers.
_PG_TYPES = {name: kind for name, _, kind in COLUMNS}
_STAGED_COLUMNS = ", ".join(
    f"{name} {'text' if name in LIST_COLUMNS else _PG_TYPES[name]}" for name in ROW_COLUMNS
)
_NAMES = ", ".join(ROW_COLUMNS)
_UPDATES = ", ".join(f"{name} = EXCLUDED.{name}" for name in ROW_COLUMNS if name != "call_id")


def _array(values: list[str]) -> str:
    """A text[] literal of `values`, every element quoted."""
    if not values:
        return "{}"
    quoted = [value.replace("\\", "\\\\").replace('"', '\\"') for value in values]
    return '{"' + '","'.join(quoted) + '"}'


# COPY's text format: a tab between columns, a newline after each row, and a backslash escape
# for those two, carriage return and backslash itself. (Rows never hold NUL: import refuses it.)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same double


def _copy_array(values: list[str]) -> str:
    return _array(values).translate(_COPY_ESCAPES)


_COPY_ENCODERS = tuple(
    _copy_array
    if name in LIST_COLUMNS
    else _copy_float
    if _PG_TYPES[name] == "double precision"
    else str
    if _PG_TYPES[name] == "bigint"
    else _copy_text
    for name in ROW_COLUMNS
)


def copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows as COPY text, each led by its place in the batch (`seq`).

    Made where the rows are parsed (an import's worker processes): the importing process then
    only streams bytes to the server.
    """
    encoders = _COPY_ENCODERS
    lines = [
        f"{seq}\t" + "\t".join([encode(value) for encode, value in zip(encoders, row, strict=True)])
        for seq, row in enumerate(rows)
    ]
    lines.append("")
    return "\n".join(lines).encode()


def _upsert_sql(table: str, *, first: bool) -> str:
    """Store the batch staged in `table` for tenant %(t)s: the last row of each callId wins.

    Answers one row: how many calls the statement stored, how many of them it inserted (a new
    row has xmax 0), and how many this import had already stored in an earlier batch (their
    row has this transaction's xid as xmin). The rest replaced calls stored before the import,
    however other sessions' writes interleave: only rows this transaction wrote count as its.
    """
    values = ", ".join(
        f"{name}::text[] AS {name}" if name in LIST_COLUMNS else name for name in ROW_COLUMNS
    )
    # Only a batch that updated rows needs the look-up, and the server runs it only then (a
    # subquery in a CASE branch not taken is never executed). xmin is tested in the aggregate,
    # not in the join: a filter on it looks so selective to the planner that it would loop
    # over every batch row for each of the calls.
    earlier = (
        "0"
        if first
        else "CASE WHEN count(*) FILTER (WHERE NOT inserted) = 0 THEN 0 ELSE "
        "(SELECT count(*) FILTER (WHERE calls.xmin = pg_current_xact_id()::xid) "
        "FROM batch JOIN calls ON calls.tenant_id = %(t)s AND calls.call_id = batch.call_id) END"
    )
    return (
        f"WITH batch AS (SELECT DISTINCT ON (call_id) {values} FROM {table} "
        "ORDER BY call_id, seq DESC), "
        f"stored AS (INSERT INTO calls (tenant_id, {_NAMES}) SELECT %(t)s, {_NAMES} FROM batch "
        f"ON CONFLICT (tenant_id, call_id) DO UPDATE SET {_UPDATES} "
        "RETURNING xmax = 0 AS inserted) "
        f"SELECT count(*), count(*) FILTER (WHERE inserted), {earlier} FROM stored"
    )


# A key for pg_advisory_lock that serialises migrations across processes ("rc-migr").
_MIGRATION_LOCK = 0x72632D6D69677200

# Refresh planner statistics and the visibility map once this many calls changed.
VACUUM_MIN_ROWS = 100_000


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _unavailable(exc: psycopg.Error, timeout_ms: int | None = None) -> ServiceUnavailable:
    if isinstance(exc, pg_errors.QueryCanceled):
        limit = f" than {timeout_ms} ms" if timeout_ms else ""
        return ServiceUnavailable(
            f"The query ran longer{limit} and was stopped; "
            "narrow the request (a shorter window, fewer filters) or try again.",
            1,
        )
    log.warning("PostgreSQL is unavailable: %s", exc)
    if isinstance(exc, pg_errors.TransactionRollback):
        return ServiceUnavailable(f"A concurrent write conflicted ({exc.sqlstate}); try again.", 1)
    return ServiceUnavailable("The database is not answering; try again shortly.", 5)


def _log_notice(diagnostic: psycopg.errors.Diagnostic) -> None:
    if diagnostic.severity_nonlocalized in ("WARNING", "ERROR", "FATAL", "PANIC"):
        log.warning("PostgreSQL: %s", diagnostic.message_primary)


def _configure(conn: Connection) -> None:
    conn.add_notice_handler(_log_notice)
    # Plan each execution for its parameters: a tenant's size and a search pattern change the
    # best plan, which a generic plan of an auto-prepared statement would not see.
    conn.execute("SET plan_cache_mode = force_custom_plan")


def _runner(conn: Connection) -> Run:
    def run(sql: str, params: dict[str, Any]) -> Rows:
        # No parameters: send the text as it is, so a literal % needs no escaping.
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description is not None else []

    return run


class PostgresStorage(Storage):
    """Calls in a PostgreSQL database; any number of processes may share it."""

    engine = "postgres"
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
        application_name: str = "recent-calls",
    ) -> None:
        self.url = url
        self._connect_kwargs: dict[str, Any] = {
            "application_name": application_name,
            # Import batches arrive as UTF-8 COPY text: the session must read them as such.
            "client_encoding": "utf8",
            "connect_timeout": max(1, round(connect_timeout)),
        }
        self._changed = 0
        self._changed_lock = threading.Lock()
        # One direct connection first: its error says what is wrong (host, database, role),
        # where a pool that cannot fill only times out.
        try:
            psycopg.connect(url, **self._connect_kwargs).close()
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(
                f"cannot connect to PostgreSQL at {redact(url)}: {exc}".strip(), 5
            ) from None
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max(min_size, max_size),
            timeout=timeout,
            kwargs={"autocommit": True, **self._connect_kwargs},
            configure=_configure,
            check=ConnectionPool.check_connection,
            name="recent-calls",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg.OperationalError as exc:
            self._pool.close()
            raise ServiceUnavailable(
                f"cannot fill a connection pool for {redact(url)}: {exc}", 5
            ) from None

    # -- engine primitives -------------------------------------------------------------------

    @contextmanager
    def _connection(self, timeout_ms: int | None = None) -> Iterator[Connection]:
        """A pooled connection; connection failures and timeouts become ServiceUnavailable."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise _unavailable(exc, timeout_ms) from None

    def _runner(self, conn: Connection) -> Run:
        return _runner(conn)

    def _transaction(
        self, begin: str, work: Callable[[Run], T], *, timeout_ms: int | None = None
    ) -> T:
        with self._connection(timeout_ms) as conn:
            conn.execute(begin)
            try:
                result = work(self._runner(conn))
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")
            return result

    def _read(self, work: Callable[[Run], T]) -> T:
        timeout_ms = self.statement_timeout_ms
        if not timeout_ms:
            return self._transaction(_READ, work)
        # The server stops any statement of the read at the limit; SET LOCAL ends with it.
        begin = f"{_READ}; SET LOCAL statement_timeout = {int(timeout_ms)}"
        return self._transaction(begin, work, timeout_ms=timeout_ms)

    def _write(self, work: Callable[[Run], T]) -> T:
        return self._transaction(_WRITE, work)

    def _is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, pg_errors.UniqueViolation)

    def _page_sql(self, where_sql: str, ordering: Ordering) -> str:
        # Late materialisation: sort only keys and callIds, then build whole rows (three arrays
        # joined into text each) for the one page, found again by primary key.
        return (
            f"SELECT {SELECT_SQL} FROM calls WHERE tenant_id = %(tenant_id)s AND call_id IN ("
            f"SELECT call_id FROM calls WHERE {where_sql} ORDER BY {ordering.clause} "
            f"LIMIT %(limit)s OFFSET %(skip)s) ORDER BY {ordering.clause}"
        )

    def close(self) -> None:
        self._pool.close()

    def migrate(self) -> list[int]:
        """Apply missing steps while holding a lock, so processes starting together take turns."""
        try:
            lock = psycopg.connect(self.url, autocommit=True, **self._connect_kwargs)
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        with lock:
            lock.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            return super().migrate()

    # -- calls -------------------------------------------------------------------------------

    def begin_import(self, tenant_id: str) -> CallImport:
        return _PostgresImport(self, tenant_id)

    def compact(self) -> bool:
        """Refresh planner statistics and the visibility map (index-only counts) of calls."""
        with self._connection() as conn:
            conn.execute("VACUUM (ANALYZE) calls")
        with self._changed_lock:
            self._changed = 0
        return True

    def maybe_compact(self) -> bool:
        if self._changed < VACUUM_MIN_ROWS:
            return False
        return self.compact()

    def _note_changed(self, count: int) -> None:
        with self._changed_lock:
            self._changed += count

    # An import that changed at least this many calls refreshes them at once (`after_import`).
    after_import_min_rows = 10_000

    def after_import(self, changed_rows: int) -> None:
        """After a bulk import, refresh planner statistics and the visibility map of calls
        (VACUUM ANALYZE) before anyone queries: until autovacuum came by, the planner had no
        statistics for the new rows and exact counts could not use index-only scans (a 24 h
        page measured 28x slower). Smaller changes wait for `maybe_compact`."""
        if changed_rows >= self.after_import_min_rows:
            self.compact()


def _rollback(conn: Connection) -> None:
    """Roll back if the connection still can; a broken one is discarded by the pool."""
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()


class _PostgresImport(CallImport):
    """Streams batches into `calls` from a worker thread, inside one transaction.

    `add` hands a batch to the worker and returns, so parsing the next batch overlaps with the
    server storing this one: the worker stages it by COPY (text made by `copy_text`, usually in
    the import's worker processes) into a temporary table and
    upserts it from there, all in a transaction opened by the first batch and committed by
    `commit` (rolled back by `abort`). Other sessions see the whole import or none of it.
    Memory stays flat: at most one batch waits while another is being stored.
    """

    def __init__(self, storage: PostgresStorage, tenant_id: str) -> None:
        self.storage = storage
        self.tenant_id = tenant_id
        self.table = f"staged_{uuid.uuid4().hex}"
        self.received = self.inserted = self.replaced = self._batches_stored = 0
        self._began = self._stopping = False
        self._error: BaseException | None = None
        self._batches: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._worker: threading.Thread | None = None
        try:
            conn = storage._pool.getconn()
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        self.conn: Connection | None = conn
        try:
            conn.execute(f"CREATE TEMP TABLE {self.table} (seq bigint NOT NULL, {_STAGED_COLUMNS})")
        except BaseException as exc:
            self._release(discard=True)
            if isinstance(exc, psycopg.OperationalError):
                raise _unavailable(exc) from None
            raise
        self._copy = f"COPY {self.table} (seq, {_NAMES}) FROM STDIN"
        self._upserts = (_upsert_sql(self.table, first=True), _upsert_sql(self.table, first=False))

    # -- the caller's side ----------------------------------------------------------------------

    encode = staticmethod(copy_text)

    def add_encoded(self, batch: bytes, count: int) -> None:
        self._raise_failure()
        if not count:
            return
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._work, name=f"import-{self.tenant_id}", daemon=True
            )
            self._worker.start()
        self._batches.put(batch)
        self.received += count

    def commit(self) -> UpsertResult:
        self._finish_worker()
        self._raise_failure()
        conn = self.conn
        assert conn is not None, "this import is finished"
        if self._began:
            self._began = False
            try:
                conn.execute("COMMIT")
            except BaseException as exc:
                self._fail(exc)
                self._raise_failure()
        self.storage._note_changed(self.inserted + self.replaced)
        self.abort()
        return UpsertResult(self.received, self.inserted, self.replaced)

    def abort(self) -> None:
        self._stopping = True
        self._finish_worker()
        conn = self.conn
        if conn is None:
            return
        try:
            if self._began:
                self._began = False
                conn.execute("ROLLBACK")
            conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        except psycopg.Error:
            self._release(discard=True)
        else:
            self._release(discard=False)

    def _finish_worker(self) -> None:
        if self._worker is not None:
            self._batches.put(None)
            self._worker.join()
            self._worker = None

    def _raise_failure(self) -> None:
        error = self._error
        if error is None:
            return
        self._release(discard=True)
        if isinstance(error, psycopg.OperationalError):
            raise _unavailable(error) from None
        raise error

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error

    def _release(self, *, discard: bool) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if discard:
            conn.close()
        self.storage._pool.putconn(conn)

    # -- the worker's side ----------------------------------------------------------------------

    def _work(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is None and not self._stopping:
                try:
                    self._store(batch)
                except BaseException as exc:
                    self._fail(exc)

    def _store(self, batch: bytes) -> None:
        conn = self.conn
        assert conn is not None
        if not self._began:
            conn.execute(_WRITE)
            self._began = True
            conn.execute("SET LOCAL work_mem = '64MB'")
        with conn.cursor() as cursor, cursor.copy(self._copy) as staging:
            staging.write(batch)
        upsert = self._upserts[self._batches_stored > 0]
        counts = self.storage._runner(conn)(upsert, {"t": self.tenant_id})[0]
        conn.execute(f"TRUNCATE {self.table}")
        self._batches_stored += 1
        stored, inserted, earlier = int(counts[0]), int(counts[1]), int(counts[2])
        self.inserted += inserted
        self.replaced += stored - inserted - earlier
