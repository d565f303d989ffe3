"""The embedded engine: one DuckDB file, one writing process, any number of reading threads."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from recent_calls.clock import Clock, system_clock
from recent_calls.errors import (
    DatabaseLocked,
    DatabaseUnavailable,
    QueryTimeout,
    StorageError,
    StorageFull,
    WriteConflict,
)
from recent_calls.query.dialects import DUCKDB
from recent_calls.query.filters import Where
from recent_calls.query.request import CallQuery
from recent_calls.storage.base import DAY_MS, CallImport, Rows, Run, Storage, UpsertResult
from recent_calls.storage.columns import COLUMNS, ROW_COLUMNS, CallColumns
from recent_calls.storage.migrations import calls_table_sql
from recent_calls.storage.scope import TENANT_PARAM, tenant_condition

T = TypeVar("T")

# Pages of at least this many rows are fetched as Arrow columns (`_page_columns`).
ARROW_MIN_ROWS = 1000
# A page this many calls or more from either end of the hits finds its first call through the
# calls per day (`_day_parts`).
DAY_WALK_MIN_OFFSET = 10_000

log = logging.getLogger(__name__)

# After a fatal error DuckDB refuses every statement until the database is opened again; a
# reopen replays the WAL, so while the disk stays full it is tried at most this often.
REOPEN_INTERVAL_S = 1.0


def _disk_full(exc: BaseException) -> bool:
    return "No space left on device" in str(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _wal_bytes(path: str) -> int:
    """The size of the database's write-ahead log as found (0: none, or empty)."""
    try:
        return os.path.getsize(f"{path}.wal")
    except OSError:
        return 0


def _note_leftover_wal(path: str, size: int) -> None:
    """Log a write-ahead log left by a process that did not close the database (`size`, read
    before this process opened it; said only once it has: a WAL beside a database that another
    process holds open is that process's, not a leftover).

    DuckDB replays it on open and silently drops what follows an entry cut off at its end: after
    a crash that is a write nobody was told had succeeded, but a WAL truncated later (a copy, a
    full disk) loses calls that were acknowledged. Nothing tells the two apart, so say it."""
    if size:
        log.warning(
            "%s.wal (%d bytes) was left by a process that did not close the database; it is "
            "replayed now, and a transaction cut off at its end is dropped: if the file was "
            "truncated, acknowledged calls past the cut are lost too",
            path,
            size,
        )


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR[]": pa.list_(pa.string()),
}
_ROW_SCHEMA = pa.schema(
    [(name, _ARROW_TYPES[kind]) for name, kind, _ in COLUMNS if name in ROW_COLUMNS]
)


def arrow_batch(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Rows as an Arrow table: built where they are parsed, it crosses processes as buffers."""
    return arrow_columns(list(zip(*rows, strict=True)) if rows else [()] * len(_ROW_SCHEMA))


def arrow_columns(columns: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns of rows (ROW_COLUMNS order) as an Arrow table."""
    arrays = [
        pa.array(column, type=field.type)
        for column, field in zip(columns, _ROW_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=_ROW_SCHEMA)


def join_tables(batches: Sequence[pa.Table]) -> pa.Table:
    """Tables of `arrow_batch`, as one table in one chunk: it crosses processes as fewer
    buffers, and DuckDB scans it faster than many small chunks."""
    return pa.concat_tables(batches).combine_chunks()


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

# Re-cluster once this many rows, and a tenth of the table, arrived since the last compaction.
COMPACT_MIN_ROWS = 100_000


class _CursorRun:
    """`Run` on one cursor: a statement's rows, its parameters bound by name. `_page_columns`
    reads a large page through the same cursor, in the same transaction."""

    __slots__ = ("cursor", "storage")

    def __init__(self, storage: DuckDBStorage, cursor: duckdb.DuckDBPyConnection) -> None:
        self.storage = storage
        self.cursor = cursor

    def __call__(self, sql: str, params: dict[str, Any]) -> Rows:
        return self.cursor.execute(sql, self._bound(sql, params)).fetchall()

    def columns(self, sql: str, params: dict[str, Any]) -> CallColumns:
        """A page's rows as columns, through Arrow: no Python row is built."""
        table = self.cursor.sql(sql, params=self._bound(sql, params)).to_arrow_table()
        return CallColumns([column.to_pylist() for column in table.columns], table.num_rows)

    def _bound(self, sql: str, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters `sql` names (DuckDB refuses any other), noted for a trace."""
        used = {name: params[name] for name in _PARAM.findall(sql)}
        self.storage._note(sql, used)
        return used


class _Watchdog:
    """One thread that interrupts the cursors whose read ran past its deadline.

    It wakes at the earliest deadline, and at least every `IDLE_S`: a read whose deadline is
    later than the next wake-up is armed without waking it (on every read, that wake-up was a
    thread switch for nothing). A read past its deadline is interrupted again every `AGAIN_S`
    until it is disarmed: an interrupt that lands between two of its statements finds the
    cursor idle and is lost, and the next statement would run unbounded."""

    IDLE_S = 1.0
    AGAIN_S = 0.002

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: dict[int, tuple[float, duckdb.DuckDBPyConnection]] = {}
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None
        self._next_wake = float("inf")

    def arm(self, cursor: duckdb.DuckDBPyConnection, seconds: float) -> int:
        with self._wake:
            ticket = next(self._tickets)
            deadline = time.monotonic() + seconds
            self._armed[ticket] = (deadline, cursor)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="duckdb-statement-timeout", daemon=True
                )
                self._thread.start()
            if deadline < self._next_wake:
                self._wake.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        with self._wake:
            self._armed.pop(ticket, None)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for ticket, (deadline, cursor) in list(self._armed.items()):
                    if deadline <= now:
                        self._armed[ticket] = (now + self.AGAIN_S, cursor)
                        # Under the lock, so a read that has just ended cannot be hit: disarm
                        # waits for it. An interrupt of an idle cursor is a no-op.
                        cursor.interrupt()
                wake = min([now + self.IDLE_S, *(deadline for deadline, _ in self._armed.values())])
                self._next_wake = wake
                self._wake.wait(timeout=max(0.001, wake - now))


_WATCHDOG = _Watchdog()


class DuckDBStorage(Storage):
    """Calls in one DuckDB file; writes are serialised in-process, reads run concurrently."""

    engine = "duckdb"
    dialect = DUCKDB
    shared = False

    def __init__(self, path: str, *, read_only: bool = False, clock: Clock = system_clock) -> None:
        super().__init__(clock)
        self.path = path
        # Every tenant's calls, the credential hashes and the audit log are in this file and
        # its WAL (which DuckDB makes and remakes as it writes): the process creates files for
        # its owner only from here on, and a file created earlier with wider access is narrowed.
        os.umask(os.umask(0o077) | 0o077)
        on_disk = path not in ("", ":memory:") and not path.startswith(":memory:")
        if on_disk and not read_only:
            for existing in (path, f"{path}.wal"):
                with contextlib.suppress(FileNotFoundError, PermissionError):
                    os.chmod(existing, 0o600)
        self.read_only = read_only
        leftover = _wal_bytes(path) if on_disk else 0
        try:
            self._connection = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise DatabaseLocked(
                    f"{path} is open in another process (a running `recent-calls serve`?)"
                ) from None
            raise DatabaseUnavailable(f"cannot open {path}: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            if "WAL" not in str(exc):
                raise DatabaseUnavailable(f"cannot open {path}: {_first_line(exc)}") from None
            raise DatabaseUnavailable(
                f"cannot open {path}: its write-ahead log {path}.wal cannot be replayed "
                f"({_first_line(exc)}). Restore the database from a backup, or move the .wal "
                "file aside to open it as of its last checkpoint (the calls stored since are "
                "then lost)"
            ) from None
        _note_leftover_wal(path, leftover)
        # A thread's cursor belongs to one opening of the database (see `_recover`).
        self._generation = 0
        self._failure: str | None = None  # why the open database is unusable, until reopened
        self._last_reopen = float("-inf")
        self._closed = False
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._unclustered = 0

    # -- engine primitives -------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None or getattr(self._local, "generation", None) != self._generation:
            cursor = self._connection.cursor()
            self._local.cursor, self._local.generation = cursor, self._generation
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def _runner(self, cursor: duckdb.DuckDBPyConnection) -> Run:
        return _CursorRun(self, cursor)

    def _day_parts(
        self, run: Run, where: Where, query: CallQuery, hits: int
    ) -> list[tuple[int, int, int | None]] | None:
        """The window's calls per UTC day, counted in one pass over its start times (DuckDB
        keeps no per-day counts), for an offset DAY_WALK_MIN_OFFSET calls or more from either
        end: on 1M calls that pass takes 7 ms, where the plain plan's boundary takes 15-18 ms
        from 20,000 calls in (4 ms at 5,000)."""
        if min(query.offset, hits - 1 - query.offset) < DAY_WALK_MIN_OFFSET:
            return None
        days = run(
            f"SELECT start_ms // {DAY_MS} AS day, count(*) FROM calls WHERE {where.sql} "
            "GROUP BY day ORDER BY day",
            where.params,
        )
        return [(day * DAY_MS, (day + 1) * DAY_MS, int(calls)) for day, calls in days]

    def _page_columns(self, run: Run, sql: str, params: dict[str, Any], rows: int) -> CallColumns:
        """A page of `rows` calls or more as Arrow columns, never as Python rows: 5000 rows came
        in 20 ms instead of 23-27 with `fetchall`, and the renderer needs no rows to turn back
        into columns. Below ARROW_MIN_ROWS Arrow's fixed cost (about 1 ms) is more than it
        saves. The statement runs on `run`'s cursor, in the read's transaction."""
        if rows < ARROW_MIN_ROWS or not isinstance(run, _CursorRun):
            return super()._page_columns(run, sql, params, rows)
        return run.columns(sql, params)

    @contextmanager
    def _engine(self) -> Iterator[None]:
        """Reopen the database if it failed; engine failures become domain errors. Nothing
        starts once it is closed: a thread whose statement was running when `close` came keeps
        a cursor that DuckDB did not close, and its next statement would run."""
        if self._closed:
            raise duckdb.ConnectionException(f"Connection Error: {self.path} is closed")
        self._recover()
        try:
            yield
        except duckdb.Error as exc:
            error = self._storage_error(exc)
            if error is None:
                raise
            raise error from None

    def _storage_error(self, exc: duckdb.Error) -> StorageError | None:
        """The domain error for a failure of the engine or its disk; None for a bug."""
        message = str(exc)
        # A fatal error (a checkpoint that could not write, say) invalidates the database: no
        # statement runs until it is opened again, which the next call does (`_recover`).
        if isinstance(exc, duckdb.FatalException) or "database has been invalidated" in message:
            self._invalidate(message)
        if _disk_full(exc):
            log.error("The disk under %s is full: %s", self.path, message)
            return StorageFull(f"the disk under {self.path} is full")
        if self._failure is not None:
            return DatabaseUnavailable(f"{self.path} failed and is being reopened: {message}")
        if isinstance(exc, duckdb.ConnectionException) and self._closed:
            return None  # used after `close`: a bug, not the database's doing
        if isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
            log.error("The embedded database failed: %s", message)
            return DatabaseUnavailable(f"{self.path} failed: {message}")
        return None

    def _invalidate(self, why: str) -> None:
        with self._cursors_lock:
            # A closed database stays closed: a statement of a thread still running when it was
            # closed (the server's first retention pass) may fail fatally after `close`.
            if self._failure is None and not self._closed:
                log.error("The embedded database failed (%s); it will be reopened", why)
                self._failure = why

    def _recover(self) -> None:
        """Open the database again after a fatal error, so it serves without a restart (not
        once it is closed)."""
        if self._failure is None or self._closed:
            return
        with self._write_lock:
            if self._failure is None:
                return
            now = time.monotonic()
            if now - self._last_reopen < REOPEN_INTERVAL_S:
                raise DatabaseUnavailable(f"{self.path} failed and is being reopened")
            self._last_reopen = now
            self._close_connection()
            try:
                # Committed transactions are in the file or its WAL, which the open replays.
                self._connection = duckdb.connect(self.path, read_only=self.read_only)
            except duckdb.Error as exc:
                log.error("Reopening %s failed: %s", self.path, exc)
                if _disk_full(exc):
                    raise StorageFull(f"the disk under {self.path} is full") from None
                raise DatabaseUnavailable(f"{self.path} cannot be reopened: {exc}") from None
            self._generation += 1
            self._failure = None
            log.warning("Reopened %s after its failure", self.path)

    def _transaction(
        self, work: Callable[[Run], T], *, before_rollback: Callable[[], None] | None = None
    ) -> T:
        cursor = self._cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            result = work(self._runner(cursor))
        except BaseException:
            if before_rollback is not None:
                before_rollback()
            with contextlib.suppress(duckdb.Error):  # a failed database has no transaction
                cursor.execute("ROLLBACK")
            raise
        try:
            cursor.execute("COMMIT")
        except duckdb.TransactionException as exc:
            if _disk_full(exc):  # the WAL could not be written: nothing was committed
                raise
            raise WriteConflict(str(exc)) from None
        return result

    def _read(self, work: Callable[[Run], T]) -> T:
        with self._engine():
            return self._timed_read(work)

    def _timed_read(self, work: Callable[[Run], T]) -> T:
        timeout_ms = self.statement_timeout_ms
        if not timeout_ms:
            return self._transaction(work)
        # DuckDB has no server-side timeout: a watchdog interrupts the cursor at the deadline.
        cursor = self._cursor()
        ticket = _WATCHDOG.arm(cursor, timeout_ms / 1000)
        # Disarmed before any rollback: an interrupt would stop the rollback too, and leave the
        # thread's cursor in a transaction that refuses every later read.
        disarm = functools.partial(_WATCHDOG.disarm, ticket)
        try:
            return self._transaction(work, before_rollback=disarm)
        except duckdb.InterruptException:
            disarm()
            with contextlib.suppress(duckdb.Error):  # interrupted at COMMIT: still open
                cursor.execute("ROLLBACK")
            raise QueryTimeout(timeout_ms) from None
        finally:
            disarm()

    def _write(self, work: Callable[[Run], T]) -> T:
        with self._write_lock, self._engine():
            return self._transaction(work)

    def _is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, duckdb.ConstraintException)

    def pool_stats(self) -> dict[str, int]:
        """`size`: the open cursors, one per thread that used the database."""
        with self._cursors_lock:
            return {"size": len(self._cursors)}

    def close(self) -> None:
        self._closed = True
        self._close_connection()

    def _close_connection(self) -> None:
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, []
        # A database invalidated by a fatal error refuses even to close: it is let go anyway.
        for cursor in cursors:
            with contextlib.suppress(duckdb.Error):
                cursor.close()
        with contextlib.suppress(duckdb.Error):
            self._connection.close()

    # -- calls -------------------------------------------------------------------------------

    def begin_import(self, tenant_id: str) -> CallImport:
        with self._engine():
            return _DuckDBImport(self, tenant_id)

    def compact(self) -> bool:
        """Rewrite the calls table ordered by (tenant, start time), so zone maps prune scans."""
        with self._write_lock:

            def rewrite(run: Run) -> None:
                run(calls_table_sql("duckdb", "calls_compacted"), {})
                run(
                    "INSERT INTO calls_compacted SELECT * FROM calls ORDER BY tenant_id, start_ms",
                    {},
                )
                run("DROP TABLE calls", {})
                run("ALTER TABLE calls_compacted RENAME TO calls", {})

            with self._engine():
                self._transaction(rewrite)
                self._cursor().execute("CHECKPOINT")
            self._unclustered = 0
        return True

    def maybe_compact(self) -> bool:
        if self._unclustered < COMPACT_MIN_ROWS:
            return False
        total = int(self._read(lambda run: run("SELECT count(*) FROM calls", {}))[0][0])
        if self._unclustered * 10 < total:
            return False
        return self.compact()


# DuckDB stores a table in row groups of this many rows. An append that ends inside a group
# costs several times more per row than one of whole groups (measured: 7.2 against 1.8 us a row
# for appends of 10k rows), so staged batches go to the engine in whole groups.
ROW_GROUP_ROWS = 122_880


def _latest_versioned(table: str, names: str) -> str:
    """`names` of the row each callId of the staged `table` comes to when its rows are stored
    one at a time in order: the newest versioned row (the later of equal ones) after its last
    row without a version (`reset`), else that row."""
    return (
        f"SELECT {names} FROM (SELECT *, max(CASE WHEN source_version IS NULL THEN seq END) "
        f"OVER (PARTITION BY call_id) AS reset FROM {table}) "
        "WHERE seq >= coalesce(reset, -1) QUALIFY row_number() OVER "
        "(PARTITION BY call_id ORDER BY source_version DESC NULLS LAST, seq DESC) = 1"
    )


class _DuckDBImport(CallImport):
    """Stages rows in a temporary table on a connection of its own, a row group at a time."""

    def __init__(self, storage: DuckDBStorage, tenant_id: str) -> None:
        self.storage = storage
        self.tenant_id = tenant_id
        self.cursor: duckdb.DuckDBPyConnection | None = storage._connection.cursor()
        self.table = f"staged_{uuid.uuid4().hex}"
        self.received = 0
        self.pending: list[pa.Table] = []  # numbered, not yet in the staging table
        self.pending_rows = 0
        columns = ", ".join(f"{name} {kind}" for name, kind, _ in COLUMNS if name in ROW_COLUMNS)
        self.cursor.execute(f"CREATE TEMP TABLE {self.table} (seq BIGINT, {columns})")

    encode = staticmethod(arrow_batch)
    join = staticmethod(join_tables)
    encode_columns = staticmethod(arrow_columns)

    def add_encoded(self, batch: pa.Table, count: int) -> None:
        assert self.cursor is not None, "this import is finished"
        if not count:
            return
        with self.storage._engine():
            self._add(batch, count)

    def _add(self, batch: pa.Table, count: int) -> None:
        assert self.cursor is not None
        seq = pa.array(range(self.received, self.received + count), type=pa.int64())
        self.pending.append(batch.add_column(0, "seq", seq))
        self.pending_rows += count
        self.received += count
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._flush(whole_groups=True)

    def _flush(self, *, whole_groups: bool) -> None:
        """Append what is pending to the staging table: whole row groups only, unless this is
        the last append (the rest then waits for the next batch)."""
        assert self.cursor is not None
        if not self.pending_rows:
            return
        pending = pa.concat_tables(self.pending)
        size = pending.num_rows
        if whole_groups:
            size -= size % ROW_GROUP_ROWS
        incoming = pending.slice(0, size)
        rest = pending.slice(size)
        self.cursor.register("incoming", incoming)
        try:
            self.storage._runner(self.cursor)(
                f"INSERT INTO {self.table} SELECT * FROM incoming", {}
            )
        finally:
            self.cursor.unregister("incoming")
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows

    def commit(self) -> UpsertResult:
        assert self.cursor is not None, "this import is finished"
        with self.storage._engine():
            return self._commit()

    def _commit(self) -> UpsertResult:
        assert self.cursor is not None
        self._flush(whole_groups=False)
        run, table, names = self.storage._runner(self.cursor), self.table, ", ".join(ROW_COLUMNS)
        params = {TENANT_PARAM: self.tenant_id}
        kept_table = f"{table}_kept"
        with self.storage._write_lock:
            run("BEGIN TRANSACTION", {})
            try:
                counted = run(
                    f"SELECT count(DISTINCT call_id), count(source_version), count(*) FROM {table}",
                    {},
                )[0]
                unique, versioned, staged = int(counted[0]), int(counted[1]), int(counted[2])
                kept, keep = 0, ""
                if not versioned and unique == staged:  # each callId once: store as staged
                    latest = f"SELECT {names} FROM {table}"
                elif not versioned:  # the usual import: the last row of each callId wins
                    latest = (
                        f"SELECT {names} FROM {table} QUALIFY row_number() OVER "
                        "(PARTITION BY call_id ORDER BY seq DESC) = 1"
                    )
                else:
                    latest = _latest_versioned(table, names)
                    # The stored calls newer than the import's: kept, unless the import has a
                    # row without a version for them (`reset`: it replaces whatever is stored).
                    offered = _latest_versioned(table, "call_id, source_version, reset")
                    run(
                        f"CREATE TEMP TABLE {kept_table} AS SELECT offered.call_id "
                        f"FROM ({offered}) AS offered JOIN calls ON "
                        f"{tenant_condition(DUCKDB, 'calls')} AND calls.call_id = offered.call_id "
                        "WHERE offered.reset IS NULL "
                        "AND calls.source_version > offered.source_version",
                        params,
                    )
                    kept = int(run(f"SELECT count(*) FROM {kept_table}", {})[0][0])
                    keep = f"call_id NOT IN (SELECT call_id FROM {kept_table})"
                replaced = run(
                    f"DELETE FROM calls WHERE {tenant_condition(DUCKDB)} AND call_id IN "
                    f"(SELECT call_id FROM {table}){' AND ' + keep if keep else ''}",
                    params,
                )
                # Ordered by start time so that appended row groups stay clustered.
                run(
                    f"INSERT INTO calls SELECT {DUCKDB.param(TENANT_PARAM)}, {names} "
                    f"FROM ({latest}){' WHERE ' + keep if keep else ''} ORDER BY start_ms",
                    params,
                )
                if versioned:
                    run(f"DROP TABLE {kept_table}", {})
                run("COMMIT", {})
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed database has no transaction
                    run("ROLLBACK", {})
                raise
            self.storage._unclustered += unique - kept
        stored, swapped = unique - kept, int(replaced[0][0]) if replaced else 0
        self.abort()
        return UpsertResult(self.received, stored - swapped, swapped, kept)

    def abort(self) -> None:
        if self.cursor is None:
            return
        self.pending, self.pending_rows = [], 0
        cursor, self.cursor = self.cursor, None
        # A temporary table ends with its cursor anyway: a failed database may refuse both.
        with contextlib.suppress(duckdb.Error):
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        with contextlib.suppress(duckdb.Error):
            cursor.close()
