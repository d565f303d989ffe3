"""The server engine: PostgreSQL through a pool of psycopg 3 connections.

Reads run in REPEATABLE READ, READ ONLY transactions, so the hit count and the page of one
search see the same snapshot; a search's usual first page is one statement, its count a
subquery of it, which sees one snapshot by itself (`PostgresStorage.search`). An import holds
one connection for its life: each batch goes by COPY into a temporary table and is upserted
from there into `calls`, all inside one transaction that `commit` ends, on a worker thread so
that the server stores one batch while the caller parses the next. Connection failures, pool
exhaustion, statement timeouts and deadlocks surface as the domain errors DatabaseUnavailable,
QueryTimeout and WriteConflict (api/problems.py answers each with a 503 and Retry-After).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import select
import threading
import uuid
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql
from psycopg_pool import ConnectionPool

from recent_calls.circuit import Breaker
from recent_calls.clock import Clock, system_clock
from recent_calls.errors import (
    DatabaseRefused,
    DatabaseUnavailable,
    QueryTimeout,
    StorageError,
    StorageFull,
    WriteConflict,
)
from recent_calls.query.dialects import POSTGRES
from recent_calls.query.filters import Where, only_window
from recent_calls.query.ordering import Ordering
from recent_calls.query.request import CallQuery
from recent_calls.storage import redact
from recent_calls.storage.base import DAY_MS, CallImport, Rows, Run, Storage, UpsertResult
from recent_calls.storage.columns import (
    COLUMNS,
    LIST_COLUMNS,
    NULLABLE_COLUMNS,
    ROW_COLUMNS,
    CallColumns,
    PagePart,
)
from recent_calls.storage.rows import SearchResult, Tenant
from recent_calls.storage.scope import TENANT_PARAM, tenant_condition

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

log = logging.getLogger(__name__)

# Pages of at least this many rows are read as the server sends them (`_page_columns`).
STREAM_MIN_ROWS = 1000
STREAM_ROWS = 500
# Rows in chunks of STREAM_ROWS need libpq 17 (psycopg-binary bundles a later one; psycopg on
# an older system libpq would refuse every large page).
_CHUNKED = psycopg.capabilities.has_stream_chunked()

# A session may hold the read limit as its own statement_timeout (`_session_timeout`): every
# transaction says which limit it runs under, the server's own unless it is a limited read.
_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_UNLIMITED = "SET LOCAL statement_timeout TO DEFAULT"
_WRITE = f"BEGIN ISOLATION LEVEL READ COMMITTED; {_UNLIMITED}"

# Staged rows: `seq` (a row's place in the import, numbered by the server as COPY reads the
# rows: the last of a callId wins), then ROW_COLUMNS, list columns as array literals in text,
# all sent as COPY text made by the import's workers.
_PG_TYPES = {name: kind for name, _, kind in COLUMNS}
_STAGED_COLUMNS = ", ".join(
    f"{name} {'text' if name in LIST_COLUMNS else _PG_TYPES[name]}" for name in ROW_COLUMNS
)
_NAMES = ", ".join(ROW_COLUMNS)
_UPDATES = ", ".join(f"{name} = EXCLUDED.{name}" for name in ROW_COLUMNS if name != "call_id")


# COPY's text format: a tab between columns, a newline after each row, and a backslash escape
# for those two, carriage return and backslash itself. (Rows never hold NUL: import refuses it.)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# An element of a text[] literal, quoted: array quoting (backslash and double quote) and then
# COPY's escapes, in one pass.
_ELEMENT_ESCAPES = str.maketrans(
    {"\\": "\\\\\\\\", '"': '\\\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
)
_COPY_SPECIAL = ("\\", "\t", "\n", "\r")


def _plain(text: str, special: tuple[str, ...] = _COPY_SPECIAL) -> bool:
    return not any(char in text for char in special)


def _copy_texts(column: Sequence[str]) -> Sequence[str]:
    # One scan of the column decides: almost every import has nothing to escape.
    if _plain("\0".join(column)):
        return column
    return [value.translate(_COPY_ESCAPES) for value in column]


def _copy_arrays(column: Sequence[list[str]]) -> list[str]:
    """text[] literals, every element quoted, as COPY text."""
    if _plain("\0".join(itertools.chain.from_iterable(column)), (*_COPY_SPECIAL, '"')):
        return ['{"' + '","'.join(values) + '"}' if values else "{}" for values in column]
    return [
        '{"' + '","'.join([value.translate(_ELEMENT_ESCAPES) for value in values]) + '"}'
        if values
        else "{}"
        for values in column
    ]


def _copy_versions(column: Sequence[int | None]) -> list[str]:
    return ["\\N" if value is None else str(value) for value in column]  # \N: COPY text's NULL


def _copy_encoder(name: str) -> Callable[[Sequence[Any]], Iterable[str]]:
    if name in NULLABLE_COLUMNS:
        return _copy_versions
    if name in LIST_COLUMNS:
        return _copy_arrays
    if _PG_TYPES[name] == "double precision":
        # repr: the shortest text that reads back as the same double
        return lambda column: map(repr, map(float, column))
    if _PG_TYPES[name] == "bigint":
        return lambda column: map(str, column)
    return _copy_texts


_COPY_ENCODERS = tuple(_copy_encoder(name) for name in ROW_COLUMNS)


def copy_columns(columns: Sequence[Sequence[Any]]) -> bytes:
    """Rows given as columns (ROW_COLUMNS order) as COPY text, one line a row (the staging
    table numbers them as it reads them, so that texts made apart may be joined: `join_copy`).

    Made where the rows are parsed (an import's worker processes): the importing process then
    only streams bytes to the server. Column by column, so that each value costs C calls only:
    a value at a time took five times the instructions.
    """
    encoded = [encode(column) for encode, column in zip(_COPY_ENCODERS, columns, strict=True)]
    lines = list(map("\t".join, zip(*encoded, strict=True)))
    lines.append("")
    return "\n".join(lines).encode()


def copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows as COPY text (see `copy_columns`)."""
    return copy_columns(list(zip(*rows, strict=True)) if rows else [()] * len(ROW_COLUMNS))


# A stored call is replaced unless both it and the staged one have a version and the stored
# one is newer: the same version replaces (a re-import is idempotent), and no version on either
# side replaces as an import always did. Evaluated on the row as it is when the upsert locks it,
# so that of two imports at once, the older one's call never replaces the newer's.
_NEWER = "(calls.source_version > EXCLUDED.source_version) IS NOT TRUE"

# A batch is stored as if its rows were stored one at a time, in order, in two parts: first the
# last row without a version of each callId (it replaces whatever is stored), then the newest
# (the later of equal ones) of the versioned rows after it, or of all of them for a callId
# without such a row. Each part is `FROM <staged> AS s WHERE <one of these>`.
_UNVERSIONED = "s.source_version IS NULL"
_VERSIONED = "s.source_version IS NOT NULL"
_VERSIONED_LAST = (
    "s.source_version IS NOT NULL AND NOT EXISTS (SELECT FROM {table} AS n "
    "WHERE n.call_id = s.call_id AND n.source_version IS NULL AND n.seq > s.seq)"
)
_LAST_FIRST = "seq DESC"
_NEWEST_FIRST = "source_version DESC, seq DESC"


def join_copy(batches: Sequence[bytes]) -> bytes:
    """COPY texts of `copy_text`, as one: each is whole lines."""
    return b"".join(batches)


def _batch_sql(rows: str, order: str, *, repeats: bool = True) -> str:
    """The first row of each callId of `rows` (`FROM ... WHERE ...` of the staged batch) in
    `order`, as `calls` stores it; every row as it is when no callId `repeats` among them."""
    values = ", ".join(
        f"{name}::text[] AS {name}" if name in LIST_COLUMNS else name for name in ROW_COLUMNS
    )
    if not repeats:
        return f"SELECT {values} {rows}"
    return f"SELECT DISTINCT ON (call_id) {values} {rows} ORDER BY call_id, {order}"


def _upsert_sql(rows: str, order: str) -> str:
    """Store, for the tenant, the first row of each callId of `rows` in `order` (`_batch_sql`),
    unless the stored call is newer (`_NEWER`).

    Answers one row: how many calls the statement stored and how many of them it inserted (a
    row the statement inserted, rather than updated, has no xmax: this is the statement's own
    RETURNING, so it holds on Citus too, where the shard runs the upsert). A call the statement
    kept is neither; which of the updated calls this import had stored itself in an earlier
    batch is told by the `seen` table, not by row versions: on Citus a later look-up by xmin
    also sees the rows the same statement inserted.
    """
    return (
        f"WITH batch AS ({_batch_sql(rows, order)}), "
        f"stored AS (INSERT INTO calls (tenant_id, {_NAMES}) "
        f"SELECT {POSTGRES.param(TENANT_PARAM)}, {_NAMES} FROM batch "
        f"ON CONFLICT (tenant_id, call_id) DO UPDATE SET {_UPDATES} WHERE {_NEWER} "
        "RETURNING xmax = 0 AS inserted) "
        "SELECT count(*), count(*) FILTER (WHERE inserted) FROM stored"
    )


def _insert_sql(rows: str, order: str, *, repeats: bool) -> str:
    """`_upsert_sql` for calls while the primary key is dropped (`_PostgresImport._key`): a plain
    INSERT, which costs the server less than one that must be ready for a conflict. Answers
    the same row: every call it stored, it inserted."""
    return (
        f"WITH batch AS ({_batch_sql(rows, order, repeats=repeats)}), "
        f"stored AS (INSERT INTO calls (tenant_id, {_NAMES}) "
        f"SELECT {POSTGRES.param(TENANT_PARAM)}, {_NAMES} FROM batch RETURNING 1) "
        "SELECT count(*), count(*) FROM stored"
    )


# Stand-ins for an unbounded side of a window: far past any stored time (1970..9999), and
# whole days, so that the edge counts on that side are empty.
_FIRST, _LAST = -(10**8) * DAY_MS, 10**8 * DAY_MS


def _day_window(query: CallQuery) -> tuple[int, int, int, int] | None:
    """The query's window's start and end (ms) and its first and after whole UTC days; None
    when it holds no more than a day or two (the index alone is then as quick as the per-day
    counts)."""
    start = _FIRST if query.window.start_ms is None else query.window.start_ms
    end = _LAST if query.window.end_ms is None else query.window.end_ms
    first_day, after_day = -(-start // DAY_MS), end // DAY_MS
    return None if after_day - first_day < 2 else (start, end, first_day, after_day)


# A key for pg_advisory_lock that serialises migrations across processes ("rc-migr").
_MIGRATION_LOCK = 0x72632D6D69677200

# Refresh planner statistics and the visibility map once this many calls changed.
VACUUM_MIN_ROWS = 100_000

# An import that has stored this many calls, or reads a file expected to hold them, and at
# least as many as `calls` held when it began, drops the table's secondary indexes and builds
# them once before it commits (`_PostgresImport._build_indexes_at_commit`).
BULK_MIN_ROWS = 50_000

# The secondary indexes of `calls`: all but the primary key (the upsert's ON CONFLICT needs it)
# and any other index a constraint stands on.
_SECONDARY_INDEXES = (
    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
    "WHERE i.indrelid = 'calls'::regclass AND NOT i.indisprimary AND NOT i.indisunique "
    "AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = i.indexrelid) "
    "ORDER BY 1"
)

# The primary key of `calls` (its name and definition), when `ADD CONSTRAINT` with that
# definition makes it again as it is: no storage parameter, tablespace, comment, CLUSTER mark
# or replica identity on its index, which the definition leaves out. And only when nothing
# else needs it meanwhile: another unique index (an upsert could infer it), a publication or
# a logical decoder (a deleted row needs its key; `_EARLIER_COPIES` deletes rows).
_PRIMARY_KEY = (
    "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint AS c "
    "JOIN pg_index AS i ON i.indexrelid = c.conindid JOIN pg_class AS x ON x.oid = c.conindid "
    "WHERE c.conrelid = 'calls'::regclass AND c.contype = 'p' "
    "AND NOT i.indisreplident AND NOT i.indisclustered AND x.reloptions IS NULL "
    "AND x.reltablespace = 0 AND obj_description(c.oid, 'pg_constraint') IS NULL "
    "AND obj_description(x.oid, 'pg_class') IS NULL "
    "AND current_setting('wal_level') <> 'logical' "
    "AND NOT EXISTS (SELECT FROM pg_index AS u WHERE u.indrelid = c.conrelid "
    "AND u.indisunique AND u.indexrelid <> c.conindid) "
    "AND NOT EXISTS (SELECT FROM pg_publication_tables AS p "
    "JOIN pg_namespace AS n ON n.nspname = p.schemaname "
    "JOIN pg_class AS k ON k.relnamespace = n.oid AND k.relname = p.tablename "
    "WHERE k.oid = 'calls'::regclass)"
)

# Of the tenant's rows that share a callId, all but the one a later statement inserted (the
# larger command id): an import without the primary key inserted that callId more than once.
# Each statement of a transaction has its own command id; these rows were inserted and never
# changed since, so `cmin` is that id.
_EARLIER_COPIES = (
    "DELETE FROM calls AS c USING (SELECT call_id, max(cmin::text::bigint) AS last FROM calls "
    f"WHERE {tenant_condition(POSTGRES)} GROUP BY call_id HAVING count(*) > 1) AS d "
    f"WHERE {tenant_condition(POSTGRES, 'c')} AND c.call_id = d.call_id "
    "AND c.cmin::text::bigint < d.last RETURNING 1"
)


# SQLSTATEs of a server that answers but cannot do the work for reasons of its own (settings,
# privileges, a search_path without the schema): the client can do nothing about them.
_REFUSALS = {
    "25006": "it is read-only",  # read_only_sql_transaction: default_transaction_read_only
    "42P01": "its schema is not where the server looks for it",  # undefined_table
    "3F000": "its schema is not where the server looks for it",  # invalid_schema_name
    "42883": "its schema is not where the server looks for it",  # undefined_function
    "42501": "the server's role lacks a privilege",  # insufficient_privilege
}


def _storage_error(
    exc: psycopg.Error, timeout_ms: int | None = None, *, write: bool = False
) -> StorageError | None:
    """The domain error for what PostgreSQL raised; None for what is not the server's doing
    (a unique violation the caller handles, or a bug)."""
    if isinstance(exc, pg_errors.QueryCanceled):
        return QueryTimeout(timeout_ms, write=write)
    if isinstance(exc, pg_errors.DiskFull):
        log.error("PostgreSQL's disk is full: %s", exc)
        return StorageFull(f"PostgreSQL's disk is full: {_first_line(exc)}")
    reason = _REFUSALS.get(exc.sqlstate or "")
    if exc.sqlstate == "25006" and not write:
        reason = None  # reads run READ ONLY on purpose: a write in one is a bug
    if reason is not None:
        log.warning("PostgreSQL refused the work (%s): %s", reason, exc)
        return DatabaseRefused(reason, _first_line(exc))
    # Connection, resource, operator and system errors, and the server's internal ones (XX).
    if not isinstance(exc, psycopg.OperationalError) and not (exc.sqlstate or "").startswith("XX"):
        return None
    log.warning("PostgreSQL is unavailable: %s", exc)
    if isinstance(exc, pg_errors.TransactionRollback):
        return WriteConflict(str(exc.sqlstate))
    return DatabaseUnavailable(f"PostgreSQL is not answering: {_first_line(exc)}".strip())


class _DayCountsGone(DatabaseRefused):
    """The per-day counts this process used are gone (`recent-calls distribute` on Citus)."""


def _first_line(exc: BaseException) -> str:
    """The error's message without the HINT and CONTEXT lines the server adds (for one-line
    errors; the log has the whole)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unavailable(
    exc: psycopg.Error, timeout_ms: int | None = None, *, write: bool = False
) -> StorageError:
    """The domain error for a failure that is certainly the server's (connecting, the pool)."""
    error = _storage_error(exc, timeout_ms, write=write)
    return DatabaseUnavailable(f"PostgreSQL is not answering: {exc}") if error is None else error


def _log_notice(diagnostic: psycopg.errors.Diagnostic) -> None:
    if diagnostic.severity_nonlocalized in ("WARNING", "ERROR", "FATAL", "PANIC"):
        log.warning("PostgreSQL: %s", diagnostic.message_primary)


def configure_connection(conn: Connection) -> None:
    """The session settings of every pooled connection."""
    conn.add_notice_handler(_log_notice)
    # Plan each execution for its parameters: a tenant's size and a search pattern change the
    # best plan, which a generic plan of an auto-prepared statement would not see. A statement
    # outside a transaction (a first page, `PostgresStorage.search`) is one snapshot by itself:
    # a server that defaults to SERIALIZABLE would only make it liable to serialization failures.
    conn.execute(
        "SET plan_cache_mode = force_custom_plan; "
        "SET default_transaction_isolation = 'read committed'"
    )


def check_connection(conn: Connection) -> None:
    """The pool's check of a connection it hands out: an empty query (a round trip, 0.07 ms on
    loopback) only if the server has sent anything since the connection was last used. A
    server that ends a session (a restart, pg_terminate_backend) says so and closes it, which
    leaves the socket readable; a session that nothing ended has nothing to read (none of ours
    LISTENs). Raises if the connection does not work."""
    try:
        quiet = not select.select([conn.pgconn.socket], [], [], 0)[0]
    except (OSError, ValueError, psycopg.OperationalError):  # closed, or past select's range
        quiet = False
    if not quiet:
        ConnectionPool.check_connection(conn)


class _ConnectionRun:
    """`Run` on one connection: a statement's rows (its parameters bound by name), inside the
    transaction the connection is in."""

    __slots__ = ("conn", "storage")

    def __init__(self, storage: PostgresStorage, conn: Connection) -> None:
        self.storage = storage
        self.conn = conn

    def __call__(self, sql: str, params: dict[str, Any]) -> Rows:
        self.storage._note(sql, params)
        # No parameters: send the text as it is, so a literal % needs no escaping.
        cursor = self.conn.execute(sql, params or None)
        # `rownumber`, not `description`: that builds a Column per column on every call.
        return cursor.fetchall() if cursor.rownumber is not None else []

    def streamed(self, sql: str, params: dict[str, Any]) -> CallColumns:
        """A large page's rows as columns, read STREAM_ROWS at a time as the server sends them
        (libpq's chunked rows): the rows already here are made while the server still writes
        the rest, where `fetchall` waits for the last before it makes the first."""
        self.storage._note(sql, params)
        with self.conn.cursor() as cursor:
            rows = list(cursor.stream(sql, params or None, size=STREAM_ROWS))
        return CallColumns.of_rows(rows)

    def streamed_parts(self, sql: str, params: dict[str, Any], each: PagePart) -> tuple[Any, ...]:
        """`each` of a large page's rows, STREAM_ROWS at a time as columns, called as each part
        arrives (libpq's chunked rows): while it works on one part, the server writes the
        next."""
        self.storage._note(sql, params)
        parts = []
        with self.conn.cursor() as cursor:
            rows = cast(Generator[Any], cursor.stream(sql, params or None, size=STREAM_ROWS))
            try:
                while part := list(itertools.islice(rows, STREAM_ROWS)):
                    parts.append(each(CallColumns.of_rows(part)))
            finally:
                # However this ends: a stream left open holds the connection's lock, and the
                # transaction's ROLLBACK after a failing `each` would wait for it for ever.
                rows.close()
        return tuple(parts)


class PostgresStorage(Storage):
    """Calls in a PostgreSQL database; any number of processes may share it."""

    engine = "postgres"
    dialect = POSTGRES
    shared = True

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
        application_name: str = "recent-calls",
        clock: Clock = system_clock,
        breaker_open_s: float = 5.0,
    ) -> None:
        super().__init__(clock)
        self.url = url
        # Down or out of connections, the pool makes each caller wait `timeout`: once that is
        # known, callers are refused at once, and one probe a period finds the server back.
        self._breaker = self.breaker = Breaker("PostgreSQL", open_s=breaker_open_s)
        self._connect_kwargs: dict[str, Any] = {
            "application_name": application_name,
            # Import batches arrive as UTF-8 COPY text: the session must read them as such.
            "client_encoding": "utf8",
            "connect_timeout": max(1, round(connect_timeout)),
        }
        self._changed = 0
        self._changed_lock = threading.Lock()
        self._day_counts: bool | None = None
        # The statement_timeout each pooled session was given (`_session_timeout`); none listed:
        # the server's own.
        self._timeouts: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()
        # One direct connection first: its error says what is wrong (host, database, role),
        # where a pool that cannot fill only times out.
        try:
            psycopg.connect(url, **self._connect_kwargs).close()
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {redact(url)}: {exc}".strip()
            ) from None
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max(min_size, max_size),
            timeout=timeout,
            kwargs={"autocommit": True, **self._connect_kwargs},
            configure=configure_connection,
            check=check_connection,
            name="recent-calls",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg.OperationalError as exc:
            self._pool.close()
            raise DatabaseUnavailable(
                f"cannot fill a connection pool for {redact(url)}: {exc}"
            ) from None

    # -- engine primitives -------------------------------------------------------------------

    @contextmanager
    def _connection(
        self, timeout_ms: int | None = None, *, write: bool = False
    ) -> Iterator[Connection]:
        """A pooled connection; failures of the server, not the caller, become domain errors."""
        with self._guarded():
            try:
                with self._pool.connection() as conn:
                    yield conn
            except psycopg.Error as exc:
                gone = isinstance(exc, pg_errors.UndefinedTable) and "call_days" in str(exc)
                if gone and self._day_counts:
                    # `recent-calls distribute` dropped the per-day counts while this process
                    # ran (Citus keeps none): look again, and let the read be tried again.
                    self._day_counts = None
                    raise _DayCountsGone(_REFUSALS["42P01"], _first_line(exc)) from None
                error = _storage_error(exc, timeout_ms, write=write)
                if error is None:
                    raise
                raise error from None

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Refuse at once while the circuit is open; tell the breaker if the server answered."""
        if not self._breaker.allow():
            raise DatabaseUnavailable(
                "PostgreSQL was not answering moments ago (circuit open; the next try in "
                f"{self._breaker.retry_after()} s)"
            )
        answered = True
        try:
            yield
        except DatabaseUnavailable:
            answered = False
            raise
        finally:
            if answered:  # any other outcome, an error included, came from a server that answered
                self._breaker.succeeded()
            else:
                self._breaker.failed()

    def _runner(self, conn: Connection) -> Run:
        return _ConnectionRun(self, conn)

    def _page_columns(self, run: Run, sql: str, params: dict[str, Any], rows: int) -> CallColumns:
        """A page of STREAM_MIN_ROWS calls or more, read as the server sends it
        (`_ConnectionRun.streamed`; libpq 17 or later); a smaller one, as any statement's rows."""
        if rows < STREAM_MIN_ROWS or not _CHUNKED or not isinstance(run, _ConnectionRun):
            return super()._page_columns(run, sql, params, rows)
        return run.streamed(sql, params)

    def _page_parts(
        self, run: Run, sql: str, params: dict[str, Any], rows: int, each: PagePart
    ) -> tuple[Any, ...] | None:
        """A page of STREAM_MIN_ROWS calls or more, handed to `each` a part at a time as the
        server sends it (`_ConnectionRun.streamed_parts`); a smaller one is read whole."""
        if rows < STREAM_MIN_ROWS or not _CHUNKED or not isinstance(run, _ConnectionRun):
            return None
        return run.streamed_parts(sql, params, each)

    def _transaction(
        self,
        begin: str,
        work: Callable[[Run], T],
        *,
        timeout_ms: int | None = None,
        write: bool = False,
    ) -> T:
        with self._connection(timeout_ms, write=write) as conn:
            conn.execute(begin)
            try:
                result = work(self._runner(conn))
            except BaseException:
                _rollback(conn)
                raise
            conn.execute("COMMIT")
            return result

    def _read(self, work: Callable[[Run], T]) -> T:
        try:
            return self._read_once(work)
        except _DayCountsGone:
            return self._read_once(work)  # without them, as on Citus

    def _read_once(self, work: Callable[[Run], T]) -> T:
        timeout_ms = self.statement_timeout_ms
        if not timeout_ms:
            return self._transaction(f"{_READ}; {_UNLIMITED}", work)
        # The server stops any statement of the read at the limit; SET LOCAL ends with it.
        begin = f"{_READ}; SET LOCAL statement_timeout = {int(timeout_ms)}"
        return self._transaction(begin, work, timeout_ms=timeout_ms)

    def _write(self, work: Callable[[Run], T]) -> T:
        return self._transaction(_WRITE, work, write=True)

    def _session_timeout(self, conn: Connection, timeout_ms: int | None) -> None:
        """Give the session `timeout_ms` as its statement_timeout (None: the server's own),
        unless it has it already: a statement outside any transaction runs under it."""
        if self._timeouts.get(conn) == timeout_ms:
            return
        if timeout_ms:
            conn.execute(f"SET statement_timeout = {int(timeout_ms)}")
            self._timeouts[conn] = timeout_ms
        else:
            conn.execute("SET statement_timeout TO DEFAULT")
            self._timeouts.pop(conn, None)

    def search(
        self, tenant: Tenant, query: CallQuery, each: PagePart | None = None
    ) -> SearchResult:
        """A first page of fewer than STREAM_MIN_ROWS calls, where the per-day counts exist (not
        on Citus), is one statement outside any transaction: the page's rows, each with the
        hits beside it (a subquery; one statement sees one snapshot), or no row for no hits.
        `Storage.search` takes four round trips (BEGIN, count, page, COMMIT): on a 24 h page of
        a 3M-call tenant, in process, its statements took 1.37-1.65 ms p50, the one statement
        1.13-1.40. With no hits the one statement costs about 0.1 ms more: the page's part is
        planned, though not run. Any other page, and a process's first search, take that plan."""
        if query.offset or query.rows >= STREAM_MIN_ROWS or not self._day_counts:
            return super().search(tenant, query, each)
        where = self._where(tenant, query)
        count_sql, params = self._hits_statement(where, query)
        params = {**params, **where.params, "limit": query.rows, "skip": 0}
        # Counted once; the page's calls are looked for only when there are some.
        sql = f"WITH counted AS MATERIALIZED ({count_sql}) " + self._page_sql(
            f"{where.sql} AND (SELECT * FROM counted) > 0",
            Ordering.of(query, POSTGRES),
            ", (SELECT * FROM counted)",
        )
        timeout_ms = self.statement_timeout_ms
        try:
            with self._connection(timeout_ms) as conn:
                self._session_timeout(conn, timeout_ms)
                rows = self._runner(conn)(sql, params)
        except _DayCountsGone:
            return super().search(tenant, query, each)  # without them, as on Citus
        if not rows:
            return SearchResult(0)
        columns = list(zip(*rows, strict=True))
        hits = int(columns.pop()[0])
        return SearchResult(hits, CallColumns(columns, len(rows)))

    def _is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, pg_errors.UniqueViolation)

    def _check_writable(self) -> None:
        # A read-only server (default_transaction_read_only, a standby) answers every read and
        # refuses every push: readiness asks what a write transaction would be.
        found = self._write(lambda run: run("SHOW transaction_read_only", {}))
        if found and str(found[0][0]) == "on":
            raise DatabaseRefused(_REFUSALS["25006"], "transaction_read_only is on")

    def pool_stats(self) -> dict[str, int]:
        """The pool's connections (`size`), the idle ones (`available`), and `waiting` clients."""
        stats = self._pool.get_stats()
        return {
            "size": stats.get("pool_size", 0),
            "available": stats.get("pool_available", 0),
            "waiting": stats.get("requests_waiting", 0),
        }

    def close(self) -> None:
        self._pool.close()

    def _has_day_counts(self, run: Run) -> bool:
        # Migration 7 made them; `recent-calls distribute` drops them on Citus.
        if self._day_counts is None:
            found = run("SELECT to_regclass('call_days') IS NOT NULL", {})
            self._day_counts = bool(found[0][0])
        return self._day_counts

    def _counted_days(self, run: Run, query: CallQuery) -> tuple[int, int, int, int] | None:
        """The window's start and end (ms) and its first and after whole UTC days, when the
        per-day counts (migration 7) can answer for it; None when there are none, or the window
        holds no more than a day or two (the index alone is as quick)."""
        if not self._has_day_counts(run):
            return None
        return _day_window(query)

    def _hits(self, run: Run, where: Where, query: CallQuery) -> int:
        self._has_day_counts(run)  # known from here on: `_hits_statement` and `search` ask
        sql, params = self._hits_statement(where, query)
        return int(run(sql, params)[0][0])

    def _hits_statement(self, where: Where, query: CallQuery) -> tuple[str, dict[str, Any]]:
        """The statement answering the exact number of calls `where` selects: for a query by
        its window alone, the whole UTC days inside it from call_days and the partial days at
        its two edges from the index (exact, and a few ms however large the tenant)."""
        days = _day_window(query) if self._day_counts and only_window(query) else None
        if days is None:
            return f"SELECT count(*) FROM calls WHERE {where.sql}", where.params
        start, end, first_day, after_day = days
        scope = tenant_condition(POSTGRES)
        params = {
            TENANT_PARAM: where.params[TENANT_PARAM],
            "first_day": first_day,
            "after_day": after_day,
            "head_start": start,
            "head_end": first_day * DAY_MS,
            "tail_start": after_day * DAY_MS,
            "tail_end": end,
        }
        head, tail = (
            f"SELECT count(*) FROM calls WHERE {scope} "
            f"AND start_ms >= %({side}_start)s AND start_ms < %({side}_end)s"
            for side in ("head", "tail")
        )
        sql = (
            f"SELECT (SELECT coalesce(sum(calls), 0) FROM call_days WHERE {scope} "
            f"AND day >= %(first_day)s AND day < %(after_day)s) + ({head}) + ({tail})"
        )
        return sql, params

    def _day_parts(
        self, run: Run, where: Where, query: CallQuery, hits: int
    ) -> list[tuple[int, int, int | None]] | None:
        """The window's whole days from the per-day counts (migration 7), its partial first
        and last days to be counted from the index. Page 200 of 5000 rows of a 3M-call tenant
        took 378 ms raw by the plain plan, 48 by these."""
        counted = self._counted_days(run, query)
        if counted is None:
            return None
        start, end, first_day, after_day = counted
        days = run(
            f"SELECT day, calls FROM call_days WHERE {tenant_condition(POSTGRES)} "
            "AND day >= %(first_day)s AND day < %(after_day)s AND calls > 0 ORDER BY day",
            {
                TENANT_PARAM: where.params[TENANT_PARAM],
                "first_day": first_day,
                "after_day": after_day,
            },
        )
        return [
            (start, first_day * DAY_MS, None),
            *((day * DAY_MS, (day + 1) * DAY_MS, int(calls)) for day, calls in days),
            (after_day * DAY_MS, end, None),
        ]

    def _lock_migrations(self, run: Run) -> None:
        # Processes starting together take turns: the lock is the migration transaction's own
        # (released when it ends), and under READ COMMITTED the next statements of the process
        # that waited see what the first one committed.
        run("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _MIGRATION_LOCK})

    # -- calls -------------------------------------------------------------------------------

    def begin_import(self, tenant_id: str) -> CallImport:
        return _PostgresImport(self, tenant_id)

    def compact(self) -> bool:
        """Refresh planner statistics and the visibility map (index-only counts) of calls."""
        with self._connection() as conn:
            self._session_timeout(conn, None)  # VACUUM cannot run in a transaction: no SET LOCAL
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
        self.received = self.inserted = self.replaced = self.kept = 0
        self._written = 0  # rows this transaction wrote to calls: dead ones if it rolls back
        self._table_rows: int | None = None  # what calls held, asked once BULK_MIN_ROWS stored
        self._expected = 0  # the calls a file is estimated to hold (`expect`)
        self._rebuild: list[str] | None = None  # the indexes dropped, to build at commit
        # Whether every call of the tenant in `calls` is one this import stored, and no one
        # else can write the table until it commits: then a part without versions may drop the
        # primary key (`_drop_primary_key`), and `_key` is the statement that adds it back.
        # Meanwhile calls go in by plain INSERT, and the callIds stored twice are sorted out
        # when the key comes back (`_add_primary_key`).
        self._alone = False
        self._key: str | None = None
        self._began = self._stopping = False
        self._error: BaseException | None = None
        self._batches: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._worker: threading.Thread | None = None
        with storage._guarded():
            try:
                conn = storage._pool.getconn()
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from None
        self.conn: Connection | None = conn
        try:
            conn.execute(
                f"CREATE TEMP TABLE {self.table} "
                f"(seq bigint GENERATED ALWAYS AS IDENTITY, {_STAGED_COLUMNS})"
            )
        except BaseException as exc:
            self._release(discard=True)
            mapped = _storage_error(exc, write=True) if isinstance(exc, psycopg.Error) else None
            if mapped is not None:
                raise mapped from None
            raise
        self._copy = f"COPY {self.table} ({_NAMES}) FROM STDIN"
        # The callIds this import stored or kept so far, and those of them it kept and has not
        # stored since (temporary tables made by the first batch, in the import's transaction).
        self._seen, self._kept = f"{self.table}_seen", f"{self.table}_kept"

    # -- the caller's side ----------------------------------------------------------------------

    encode = staticmethod(copy_text)
    join = staticmethod(join_copy)
    encode_columns = staticmethod(copy_columns)

    def expect(self, calls: int) -> None:
        self._expected = calls

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
                if self._key is not None:
                    self._add_primary_key(conn)
                for definition in self._rebuild or ():
                    conn.execute(definition)  # as the server wrote it (pg_get_indexdef)
                conn.execute("COMMIT")
            except BaseException as exc:
                self._fail(exc)
                self._raise_failure()
        self.storage._note_changed(self.inserted + self.replaced)
        self.abort()
        return UpsertResult(self.received, self.inserted, self.replaced, self.kept)

    def abort(self) -> None:
        self._stopping = True
        self._finish_worker()
        conn = self.conn
        if conn is None:
            return
        rolled_back = False
        try:
            if self._began:
                self._began = False
                conn.execute("ROLLBACK")
                rolled_back = True
            conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        except psycopg.Error:
            self._release(discard=True)
        else:
            self._release(discard=False)
        if rolled_back:
            # A rejected or failed import leaves its rows dead in calls and in every index, and
            # exact counts visit the heap until a vacuum: measured, a 24 h page went from 7.6 to
            # 268 ms after two rolled back imports of 1M rows. Clean up now, if the server can,
            # as after an import that changed as many rows.
            with contextlib.suppress(psycopg.Error, DatabaseUnavailable):
                self.storage.after_import(self._written)

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
        mapped = _storage_error(error, write=True) if isinstance(error, psycopg.Error) else None
        if mapped is not None:
            raise mapped from None
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
            for table in (self._seen, self._kept):
                conn.execute(
                    f'CREATE TEMP TABLE {table} (call_id text COLLATE "C" PRIMARY KEY) '
                    "ON COMMIT DROP"
                )
        run = self.storage._runner(conn)
        if self._rebuild is None:
            self._consider_bulk(conn, run)
        with conn.cursor() as cursor, cursor.copy(self._copy) as staging:
            staging.write(batch)
        found = run(
            "SELECT bool_or(source_version IS NULL), bool_or(source_version IS NOT NULL) "
            f"FROM {self.table}",
            {},
        )[0]
        unversioned, versioned = bool(found[0]), bool(found[1])
        if unversioned:
            self._store_part(run, _UNVERSIONED, versioned=False)
        if versioned:
            after = _VERSIONED_LAST.format(table=self.table) if unversioned else _VERSIONED
            self._store_part(run, after, versioned=True)
        conn.execute(f"TRUNCATE {self.table}")

    def _consider_bulk(self, conn: Connection, run: Run) -> None:
        """Before a batch: switch to building the indexes at commit once this import has
        stored, or a file is expected to hold, BULK_MIN_ROWS calls and at least as many as the
        table held (decided before a batch, so never after the last)."""
        coming = max(self._written, self._expected)
        if coming < BULK_MIN_ROWS:
            return
        if self._table_rows is None:  # asked once, not by the many small imports (pushes)
            self._table_rows = self._bulk_baseline(conn)
        if coming >= self._table_rows:
            self._rebuild = self._build_indexes_at_commit(conn)
            self._alone = bool(self._rebuild) and self._tenant_is_this_imports(run)

    @staticmethod
    def _bulk_baseline(conn: Connection) -> int:
        """How many calls the table holds, as the planner estimates it (-1 before its first
        ANALYZE: then 0). Inserts do not move the estimate, and an ANALYZE by another session
        does not count rows not yet committed, so this import's own rows are not in it. On
        Citus, where the coordinator's table is empty and the indexes live on the shards: more
        than any import stores, never the bulk path."""
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus'), "
            "(SELECT reltuples FROM pg_class WHERE oid = 'calls'::regclass)"
        ).fetchone()
        if row is None or row[0]:
            return 1 << 62
        return max(0, int(row[1] or 0))

    def _build_indexes_at_commit(self, conn: Connection) -> list[str]:
        """Drop the secondary indexes of `calls` and return their definitions, for `commit`
        to build again: an import that brings more calls than the table held builds each index
        once, sorted, instead of inserting every call into each (1M calls into 50k: the whole
        import 20.7-20.9 s instead of 27.6-28.3). It takes the table for itself until it
        commits (readers and writers of every tenant wait), so only when no one else holds a
        lock on it now, and when this role owns the indexes: else [] and the import goes on as
        before. In a transaction, the indexes come back if the import rolls back
        (docs/imports.md)."""
        conn.execute("SAVEPOINT bulk_import")
        try:
            conn.execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE NOWAIT")
            found = conn.execute(_SECONDARY_INDEXES).fetchall()
            for name, _ in found:
                conn.execute(f"DROP INDEX {name}")  # regclass text: quoted where it must be
        except (pg_errors.LockNotAvailable, pg_errors.InsufficientPrivilege):
            # Another session holds the table, or this role may write calls but does not own
            # its indexes: the indexes dropped so far come back, and the import goes on.
            conn.execute("ROLLBACK TO SAVEPOINT bulk_import")
            conn.execute("RELEASE SAVEPOINT bulk_import")
            return []
        conn.execute("RELEASE SAVEPOINT bulk_import")
        return [str(definition) for _, definition in found]

    def _tenant_is_this_imports(self, run: Run) -> bool:
        """Whether the tenant's calls are the ones this import inserted, and only those, with
        the table locked against everyone else (`_build_indexes_at_commit` took it)."""
        if self.replaced or self.kept:
            return False
        found = _count(
            run,
            f"SELECT 1 FROM calls WHERE {tenant_condition(POSTGRES)} LIMIT %(most)s",
            {TENANT_PARAM: self.tenant_id, "most": self.inserted + 1},
        )
        return found == self.inserted

    def _drop_primary_key(self, conn: Connection) -> str | None:
        """Drop the primary key of `calls`, and return the statement that adds it back; None
        (and the key stays) when that statement would not make it again as it is, or something
        else needs it (`_PRIMARY_KEY`), or another object depends on it (a foreign key).

        Called with the table locked and every call of the tenant this import's own. Checking
        each call against the key costs an import of 1M calls more than building the key once
        at commit (3.0 s against 1.4 + 0.7, measured on a copy of the table), and so does
        noting the callIds met (`_meet`, 2.7 s): without the key, a callId stored again
        cannot fail, and `_add_primary_key` keeps its last copy as an upsert would have."""
        found = conn.execute(_PRIMARY_KEY).fetchone()
        if found is None:
            return None
        name = pg_sql.Identifier(str(found[0])).as_string(conn)
        conn.execute("SAVEPOINT unkeyed")
        try:
            conn.execute(f"ALTER TABLE calls DROP CONSTRAINT {name}")
        except (pg_errors.DependentObjectsStillExist, pg_errors.InsufficientPrivilege):
            conn.execute("ROLLBACK TO SAVEPOINT unkeyed")
            conn.execute("RELEASE SAVEPOINT unkeyed")
            return None
        conn.execute("RELEASE SAVEPOINT unkeyed")
        return f"ALTER TABLE calls ADD CONSTRAINT {name} {found[1]}"

    def _add_primary_key(self, conn: Connection) -> None:
        """Add back the primary key `_drop_primary_key` dropped. A callId this import inserted
        more than once keeps its last copy: the earlier ones go first (each had been counted
        as inserted: now it is counted once, as `_meet` would have)."""
        key, self._key = self._key, None
        assert key is not None
        conn.execute("SAVEPOINT keyed")
        try:
            conn.execute(key)
        except pg_errors.UniqueViolation:
            conn.execute("ROLLBACK TO SAVEPOINT keyed")
            run = self.storage._runner(conn)
            self.inserted -= _count(run, _EARLIER_COPIES, {TENANT_PARAM: self.tenant_id})
            conn.execute(key)
        conn.execute("RELEASE SAVEPOINT keyed")

    def _insert_unkeyed(self, run: Run, rows: str) -> None:
        """Store a part without versions by plain INSERT while the primary key is dropped: the
        last row of each callId, each counted as inserted (`_add_primary_key` corrects the
        count of a callId an earlier batch inserted too)."""
        ids, offered = run(f"SELECT count(DISTINCT s.call_id), count(*) {rows}", {})[0]
        statement = _insert_sql(rows, _LAST_FIRST, repeats=int(ids) < int(offered))
        stored = int(run(statement, {TENANT_PARAM: self.tenant_id})[0][0])
        self._written += stored
        self.inserted += stored

    def _meet(self, run: Run, rows: str, params: dict[str, Any] | None = None) -> int:
        """Note the callIds of `rows` as met by this import: how many it had not met before."""
        return _count(
            run,
            f"INSERT INTO {self._seen} SELECT DISTINCT s.call_id {rows} "
            "ON CONFLICT DO NOTHING RETURNING 1",
            params or {},
        )

    def _store_part(self, run: Run, where: str, *, versioned: bool) -> None:
        """Store one part of the staged batch (see `_UNVERSIONED`): by plain INSERT while the
        import may go without the primary key (`_alone`), else by upsert; and count its calls:
        new, replaced, or kept (the stored call is newer), each call once per import."""
        rows = f"FROM {self.table} AS s WHERE {where}"
        conn = self.conn
        assert conn is not None
        if versioned:
            # A version may keep a stored call, which takes the key and the callIds met: from
            # the first part with versions on, the import upserts (a key dropped and added back
            # for each such part would build it over the whole table each time).
            self._alone = False
            if self._key is not None:  # the key back; the tenant's calls are all this import's
                self._add_primary_key(conn)
                tenant = f"FROM calls AS s WHERE {tenant_condition(POSTGRES, 's')}"
                self._meet(run, tenant, {TENANT_PARAM: self.tenant_id})
        elif self._alone:
            if self._key is None:
                self._key = self._drop_primary_key(conn)
                self._alone = self._key is not None  # else the key stays, and so does upsert
            if self._key is not None:
                self._insert_unkeyed(run, rows)
                return
        order = _NEWEST_FIRST if versioned else _LAST_FIRST
        counts = run(_upsert_sql(rows, order), {TENANT_PARAM: self.tenant_id})[0]
        stored, inserted = int(counts[0]), int(counts[1])
        kept: list[str] = []
        if versioned:  # only a row with a version can find the stored call newer
            offered = int(run(f"SELECT count(DISTINCT s.call_id) {rows}", {})[0][0])
            if stored < offered:
                kept = self._kept_ids(run, rows)
        newly_kept = back = 0
        if kept:
            # Kept calls this import had not met before: the ones it met were counted then.
            newly_kept = _count(
                run,
                f"INSERT INTO {self._kept} SELECT k.call_id FROM unnest(%(kept)s::text[]) "
                f"AS k(call_id) WHERE NOT EXISTS (SELECT FROM {self._seen} AS m "
                "WHERE m.call_id = k.call_id) ON CONFLICT DO NOTHING RETURNING 1",
                {"kept": kept},
            )
        if self.kept:
            # Calls kept by an earlier batch and stored by this one: replaced after all.
            back = _count(
                run,
                f"DELETE FROM {self._kept} WHERE call_id IN (SELECT s.call_id {rows}) "
                "AND call_id <> ALL(%(kept)s::text[]) RETURNING 1",
                {"kept": kept},
            )
        new = self._meet(run, rows)
        self._written += stored
        self.inserted += inserted
        self.replaced += new - newly_kept - inserted + back
        self.kept += newly_kept - back

    def _kept_ids(self, run: Run, rows: str) -> list[str]:
        """The callIds of `rows` (a versioned part) whose stored call is newer than the newest
        row offered: the upsert kept them. Exact, as the upsert locked every one of them."""
        offered: dict[str, int] = {
            str(call_id): int(version)
            for call_id, version in run(
                f"SELECT DISTINCT ON (call_id) s.call_id, s.source_version {rows} "
                f"ORDER BY call_id, {_NEWEST_FIRST}",
                {},
            )
        }
        where = f"{tenant_condition(POSTGRES)} AND call_id = ANY(%(ids)s::text[])"
        found = run(
            f"SELECT call_id, source_version FROM calls WHERE {where} "
            "AND source_version IS NOT NULL",
            {TENANT_PARAM: self.tenant_id, "ids": list(offered)},
        )
        return [str(call_id) for call_id, version in found if int(version) > offered[call_id]]


def _count(run: Run, statement: str, params: dict[str, Any]) -> int:
    """How many rows `statement` (ending in RETURNING 1) wrote, without sending them back."""
    return int(run(f"WITH done AS ({statement}) SELECT count(*) FROM done", params)[0][0])
