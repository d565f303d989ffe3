"""Import of call records from JSON Lines: all of a file or none of it (unless told otherwise)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import select
import signal
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from recent_calls.errors import (
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportRejected,
    InvalidRequest,
    NotFound,
)
from recent_calls.ingest.records import LocalTimeReader, parse_call, reader_row, typed_columns
from recent_calls.query.windows import zone
from recent_calls.storage.base import Storage, UpsertResult

BATCH_ROWS = 20_000
ENCODE_ROWS = 512
"""How many rows a chunk encodes at a time (`parse_chunk`): a few hundred rows' objects are
still in the processor's caches when they are encoded, where those of a whole block (about 10k
rows) are not; the parts are then joined."""
MAX_LINE_BYTES = 1 << 20
"""The longest line an import reads: a call is a few KiB, so a longer line is not a call, and
reading on would hold all of it in memory (an endless one, /dev/zero, grows without bound)."""


@dataclass
class ImportReport:
    """What an import read, stored and skipped."""

    lines: int = 0
    received: int = 0
    inserted: int = 0
    replaced: int = 0
    invalid: int = 0
    errors: list[FieldError] = field(default_factory=list)
    kept: int = 0
    """Calls stored with a newer `sourceVersion` than the line's, left as they were."""

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "received": self.received,
            "inserted": self.inserted,
            "replaced": self.replaced,
            "kept": self.kept,
            "invalid": self.invalid,
            "errors": [error.as_dict() for error in self.errors],
        }


@contextmanager
def _collector_paused() -> Iterator[None]:
    # An import allocates millions of small objects that all live until their batch is stored;
    # the cyclic collector would rescan them over and over for nothing (measured: 25% of time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reader(timezone: str) -> LocalTimeReader:
    try:
        return LocalTimeReader(zone(timezone))
    except KeyError:
        message = f"{timezone!r} is not an IANA time zone"
        raise InvalidRequest([FieldError("timezone", message)]) from None


Line = bytes | str | dict[str, Any]


Encode = Callable[[list[tuple[Any, ...]]], Any]
Join = Callable[[list[Any]], Any]
EncodeColumns = Callable[[list[Sequence[Any]]], Any]


@dataclass
class ParsedChunk:
    """The valid lines of a chunk as one batch for the store, and what was wrong with the rest."""

    batch: Any
    count: int
    errors: list[FieldError]
    invalid: int
    last_line: int
    size: int = 0  # the length of the block the lines came in (0: given line by line)


def parse_chunk(
    lines: list[Line] | bytes | str, first_line: int, timezone: str, encode: Encode, join: Join
) -> ParsedChunk:
    """Validate consecutive lines, numbered from `first_line`, and encode the valid ones for the
    store (in a worker process, where this runs for large imports); blank lines are skipped.

    `lines` may be a block of whole lines in one bytes or str object (see `_blocks`). The rows
    are encoded ENCODE_ROWS at a time, as they are made, and the parts joined: an 8 MiB block
    of the benchmark's lines took 65 ms of CPU this way, 86 when its rows were encoded at once
    at its end (74 and 99 ms for PostgreSQL's COPY text)."""
    size = 0
    if isinstance(lines, bytes | str):
        size = len(lines)
        lines = _split_block(lines)
    clock = _reader(timezone)
    rows: list[tuple[Any, ...]] = []
    parts = []
    parsed = ParsedChunk(None, 0, [], 0, first_line + len(lines) - 1, size)
    with _collector_paused():
        for number, line in enumerate(lines, start=first_line):
            if not isinstance(line, dict) and not line.strip():
                continue
            row, errors = parse_call(line, clock, f"line {number}")
            if row is None:
                parsed.invalid += 1
                parsed.errors.extend(errors)
                continue
            rows.append(row)
            if len(rows) == ENCODE_ROWS:
                parts.append(encode(rows))
                parsed.count += ENCODE_ROWS
                rows = []
        if rows:
            parts.append(encode(rows))
            parsed.count += len(rows)
        if parts:
            parsed.batch = join(parts)
    return parsed


BLOCK_BYTES = 8 << 20


def _split_block(block: bytes | str) -> list[Line]:
    lines: list[Line] = list(block.split(b"\n") if isinstance(block, bytes) else block.split("\n"))
    if lines and not lines[-1]:  # after the last newline: not a line
        lines.pop()
    return lines


def _too_long(number: int, limit: int) -> InvalidRequest:
    return InvalidRequest(
        [FieldError(f"line {number}", f"is longer than {limit} bytes")],
        detail=f"Line {number} is longer than {limit} bytes, the longest line an import "
        "reads (is the file JSON Lines, one call a line?); nothing was imported.",
    )


def _check_lines(block: bytes | str, first: int, limit: int) -> None:
    """InvalidRequest naming the first line of `block` longer than `limit`, if there is one.

    Without a look at every line: a line longer than `limit` holds a whole cell of a grid of
    cells half as long, so only a cell with no newline in it is looked at closer (the line
    around it measured), in order; the first too long is the first line named."""
    if len(block) <= limit:
        return
    newline: Any = b"\n" if isinstance(block, bytes) else "\n"
    cell = max((limit + 1) // 2, 1)
    for at in range(0, len(block) - cell + 1, cell):
        if block.find(newline, at, at + cell) >= 0:
            continue
        start = block.rfind(newline, 0, at) + 1
        end = block.find(newline, at + cell)
        end = len(block) if end < 0 else end
        if end - start > limit:
            raise _too_long(first + block.count(newline, 0, start), limit)


def _read(source: Any, size: int) -> Any:
    """Up to `size` of `source`; InvalidRequest naming the file when it cannot be read (a
    device or special file that refuses reads), instead of an OSError and its traceback."""
    try:
        chunk = source.read(size)
    except OSError as exc:
        name = getattr(source, "name", None)
        shown = name if isinstance(name, str) and name else "the file"
        reason = exc.strerror or str(exc)
        raise InvalidRequest(
            [FieldError("file", f"cannot be read: {reason}")],
            detail=f"{shown} cannot be read: {reason}; nothing was imported.",
        ) from None
    return chunk


def _blocks(source: Any, size: int, max_line: int) -> Iterator[tuple[bytes | str, int]]:
    """A file as blocks of whole lines, each with the number of its first line; InvalidRequest
    as soon as a line is longer than `max_line`, so memory stays bounded by a block.

    Splitting a block (in a worker) costs far less than reading a file line by line, and a
    block crosses to a worker process as one object. A text file gives text blocks."""
    first = 1
    rest: Any = None
    while chunk := _read(source, size):
        block = chunk if rest is None else rest + chunk
        newline = b"\n" if isinstance(block, bytes) else "\n"
        end = block.rfind(newline) + 1
        if end == 0:  # no newline yet: a line longer than a block
            if len(block) > max_line:
                raise _too_long(first, max_line)
            rest = block
            continue
        block, rest = block[:end], block[end:]
        _check_lines(block, first, max_line)
        lines = block.count(newline)
        if len(rest) > max_line:
            raise _too_long(first + lines, max_line)
        yield block, first
        first += lines
    if rest:
        _check_lines(rest, first, max_line)
        yield rest, first


def _without_bom(chunk: Any) -> Any:
    """The first chunk without a UTF-8 byte order mark (editors on Windows write one)."""
    if isinstance(chunk, list) and chunk:
        return [_without_bom(chunk[0]), *chunk[1:]]
    if isinstance(chunk, bytes) and chunk.startswith(b"\xef\xbb\xbf"):
        return chunk[3:]
    if isinstance(chunk, str) and chunk.startswith("\ufeff"):
        return chunk[1:]
    return chunk


def _chunks(lines: Iterable[Line], size: int) -> Iterator[tuple[list[Line], int]]:
    chunk: list[Line] = []
    first = 1
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk, first
            first += size
            chunk = []
    if chunk:
        yield chunk, first


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def worker_started(importer: int, niceness: int = 0) -> None:
    """Set up an import worker process: it must never outlive the import that started it.

    A worker killed with its importer (`kill -9` of the command) would otherwise stay blocked
    on its queue for good, and keep the pool's forkserver and resource tracker alive. On Linux
    the kernel kills it when its parent (the forkserver, which exits with the importer) dies;
    everywhere, a thread ends it when the importer's process is gone. It runs `niceness`
    steps below the importer.
    """
    gc.disable()  # workers only parse: nothing they make forms a cycle
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    threading.Thread(
        target=_exit_with, args=(importer,), name="exit-with-importer", daemon=True
    ).start()


def _exit_with(importer: int) -> None:
    """End this process as soon as process `importer` has ended."""
    try:
        handle = os.pidfd_open(importer)
    except ProcessLookupError:
        os._exit(1)
    except (OSError, AttributeError):  # no pidfd: poll the parent instead
        while os.getppid() != 1 and _alive(importer):
            time.sleep(0.5)
        os._exit(1)
    select.select([handle], [], [])  # readable once the process has exited
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PRELOADED = (
    "recent_calls.ingest.asterisk_parallel",
    "recent_calls.storage.postgres_store",
    "duckdb",
)
"""What an import's processes run: imported once by their forkserver, as it starts, so that
each process it starts has them already (a worker imported them itself: 0.2-0.3 s of CPU; 0.02
with these). Not pyarrow (nor duckdb_store, which imports it): importing it starts a thread,
and a forkserver forks from one thread only."""


def forkserver() -> multiprocessing.context.ForkServerContext:
    """The context of an import's processes: forkserver, not fork (the caller may be a server
    with database threads running), its server preloading PRELOADED."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    return context


def _pool(workers: int, niceness: int = 0) -> ProcessPoolExecutor:
    """Worker processes for an import, each ended with the importer (`worker_started`), and
    run `niceness` steps below it."""
    context = forkserver()
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=worker_started,
        initargs=(os.getpid(), niceness),
    )


def _parsed(
    lines: Iterable[Line],
    timezone: str,
    workers: int,
    encode: Encode,
    join: Join,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[ParsedChunk]:
    """Parsed chunks in order; past the first chunk, parsed in `workers` processes at once."""
    chunks: Iterator[tuple[list[Line] | bytes | str, int]]
    if callable(getattr(lines, "read", None)):
        chunks = _blocks(lines, BLOCK_BYTES, max_line_bytes)
    else:
        chunks = _chunks(lines, BATCH_ROWS)
    first = next(chunks, None)
    if first is None:
        return
    first = (_without_bom(first[0]), first[1])
    second = next(chunks, None) if workers > 1 else None
    if second is None:  # a small import, or no worker processes: parse here
        yield parse_chunk(first[0], first[1], timezone, encode, join)
        for chunk, number in chunks:
            yield parse_chunk(chunk, number, timezone, encode, join)
        return
    with _pool(workers) as pool:
        # The second chunk goes first: the workers start up while the first is parsed here.
        pending: deque[Future[ParsedChunk]] = deque()
        pending.append(pool.submit(parse_chunk, second[0], second[1], timezone, encode, join))
        yield parse_chunk(first[0], first[1], timezone, encode, join)
        for chunk, number in chunks:
            pending.append(pool.submit(parse_chunk, chunk, number, timezone, encode, join))
            if len(pending) > 2 * workers:  # bounded read-ahead keeps memory flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def import_lines(
    storage: Storage,
    tenant_id: str,
    lines: Iterable[Line],
    *,
    timezone: str = "GMT",
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ImportReport:
    """Import JSON Lines (or decoded calls) for a tenant; ImportRejected if any is invalid.

    Lines are parsed in `workers` processes (default: one per core) once there is more than
    one chunk of them; they are stored in one transaction, in file order. A file with a line
    longer than `max_line_bytes` is refused (InvalidRequest naming it) as soon as it is read.
    """
    if storage.get_tenant(tenant_id) is None:
        raise NotFound(
            f"tenant {tenant_id!r} does not exist; create it first with: "
            f"recent-calls tenant create {tenant_id} --region us|uk"
        )
    _reader(timezone)  # an unknown zone is refused before anything is read
    report = ImportReport()
    size = _file_size(lines)
    with storage.begin_import(tenant_id) as staged:
        count = default_workers() if workers is None else workers
        for chunk in _parsed(lines, timezone, count, staged.encode, staged.join, max_line_bytes):
            if size and chunk.size and not report.lines:  # the first block of a file
                staged.expect(chunk.count * size // chunk.size)
            report.lines = chunk.last_line
            report.invalid += chunk.invalid
            room = MAX_REPORTED_ERRORS - len(report.errors)
            report.errors.extend(chunk.errors[: max(room, 0)])
            if report.invalid and not skip_invalid:
                continue  # keep reading: the answer names every bad line, and stores nothing
            if chunk.count:
                staged.add_encoded(chunk.batch, chunk.count)
            if progress:
                progress(chunk.count)
        if report.invalid and not skip_invalid:
            raise ImportRejected(report.errors, report.lines, report.invalid)
        result = staged.commit()
    return _stored(storage, report, result)


def _file_size(source: Any) -> int:
    """The size of `source` if it is a regular file read from its start, else 0 (a pipe, a
    terminal, a list of lines): with the first block's calls, what an import expects in all."""
    try:
        if source.tell() != 0:
            return 0
        status = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError):
        return 0
    return status.st_size if stat.S_ISREG(status.st_mode) else 0


def _stored(storage: Storage, report: ImportReport, result: UpsertResult) -> ImportReport:
    """The report of an import whose transaction has committed `result`."""
    storage.after_import(result.inserted + result.replaced)
    report.received, report.inserted, report.replaced, report.kept = (
        result.received,
        result.inserted,
        result.replaced,
        result.kept,
    )
    return report


class CallBatch:
    """Typed calls a reader hands over unmade, to be made where they are checked (a worker
    process): `count` of them, made in order by `made()` (a picklable object)."""

    count: int

    def made(self) -> list[tuple[Any, ...]]:
        raise NotImplementedError


Batch = list[tuple[Any, ...]] | CallBatch


def prepare_typed(
    batch: Batch, encode_columns: EncodeColumns
) -> tuple[Any, list[tuple[Any, ...]] | None]:
    """A batch of a reader's typed calls checked and encoded for the store (in a worker process,
    once an import is large): (encoded, None); or (None, the calls made) when `typed_columns`
    declines one of them (the calls a `CallBatch` made; None for a list, which the caller has)."""
    with _collector_paused():
        calls = batch.made() if isinstance(batch, CallBatch) else batch
        columns = typed_columns(calls)
        if columns is None:
            return None, None if calls is batch else calls
        return encode_columns(columns), None


TYPED_NICENESS = 10
"""How far below the importer a telephony import's workers run: the Asterisk reader and the
importer are the import's critical path, and the workers' batches can wait (bench.telephony,
1M calls, three runs each: 55,107-55,757 calls/s, against 53,546-53,884 at the same priority)."""


def typed_workers() -> int:
    """Worker processes that prepare a telephony import's typed calls: one per core (up to 4),
    none on a single core. With the Asterisk reader's process beside them, two on two cores
    imported 1M calls fastest (bench.telephony: one, 47-49k calls/s; two, 54-55k; three,
    50-52k)."""
    cores = default_workers()
    return min(cores, 4) if cores > 1 else 0


def import_calls(
    storage: Storage,
    tenant_id: str,
    calls: Iterable[dict[str, Any] | tuple[Any, ...] | Batch],
    *,
    skip_invalid: bool = False,
    workers: int | None = None,
) -> ImportReport:
    """Import the calls a telephony reader made (epoch-ms times) as `import_lines` imports
    lines: in one transaction, ImportRejected if any is invalid (the nth call named `line n`).
    A list, or a `CallBatch`, stands for the typed calls in it, in order.

    The reader's values are already typed and bounded: its typed calls (tuples) are checked
    and encoded for the store a batch at a time (`prepare_typed`: in `workers` processes, by
    default `typed_workers()`, from the second batch on), and a batch it cannot vouch for, or a
    call in the import shape, goes call by call through `reader_row`, which takes what it
    cannot vouch for through the JSON import's path. Rows are staged in the reader's order."""
    if storage.get_tenant(tenant_id) is None:
        raise NotFound(
            f"tenant {tenant_id!r} does not exist; create it first with: "
            f"recent-calls tenant create {tenant_id} --region us|uk"
        )
    clock = _reader("GMT")
    report = ImportReport()
    count = typed_workers() if workers is None else workers
    with contextlib.ExitStack() as stack:
        staged = stack.enter_context(storage.begin_import(tenant_id))
        stack.enter_context(_collector_paused())
        rows: list[tuple[Any, ...]] = []
        typed: list[tuple[Any, ...]] = []  # typed calls not yet sent, from line `first`
        first = number = batches = 0
        pool: ProcessPoolExecutor | None = None
        # Batches sent to be prepared, in order, with their first line: a list is kept for
        # the case its calls are declined.
        pending: deque[tuple[Batch, int, Future[Any]]] = deque()

        def one_by_one(batch: Iterable[Any], first: int) -> None:
            nonlocal rows
            for at, call in enumerate(batch, start=first):
                row, errors = reader_row(call, clock, f"line {at}")
                if row is None:
                    report.invalid += 1
                    room = MAX_REPORTED_ERRORS - len(report.errors)
                    report.errors.extend(errors[: max(room, 0)])
                elif skip_invalid or not report.invalid:  # else only the bad ones are of use
                    rows.append(row)
                    if len(rows) == BATCH_ROWS:
                        staged.add(rows)
                        rows = []

        def stage(batch: Batch, first: int, prepared: tuple[Any, Any]) -> None:
            nonlocal rows
            encoded, made = prepared
            if encoded is None:
                one_by_one(made if isinstance(batch, CallBatch) else batch, first)
            elif skip_invalid or not report.invalid:
                if rows:  # staged in order: a callId's later row wins
                    staged.add(rows)
                    rows = []
                staged.add_encoded(
                    encoded, batch.count if isinstance(batch, CallBatch) else len(batch)
                )

        def send(batch: Batch, at: int) -> None:
            nonlocal pool, batches
            batches += 1
            if count and pool is None and (batches > 1 or isinstance(batch, CallBatch)):
                pool = stack.enter_context(_pool(count, TYPED_NICENESS))
            if pool is None:
                stage(batch, at, prepare_typed(batch, staged.encode_columns))
                return
            pending.append((batch, at, pool.submit(prepare_typed, batch, staged.encode_columns)))
            if len(pending) > 2 * count:  # bounded read-ahead keeps memory flat
                stage_next()

        def send_typed(everything: bool = False) -> None:
            # The typed calls held, in batches of BATCH_ROWS; unless `everything`, a last part
            # batch waits for more. What is left is sliced off once, however long the list.
            nonlocal typed, first
            whole = len(typed) if everything else len(typed) - len(typed) % BATCH_ROWS
            for at in range(0, whole, BATCH_ROWS):
                batch = typed[at : at + BATCH_ROWS]
                send(batch, first)
                first += len(batch)
            typed = typed[whole:]

        def stage_next() -> None:
            batch, at, future = pending.popleft()
            stage(batch, at, future.result())

        for call in calls:
            if call.__class__ is list:  # a batch of typed calls
                if not typed:
                    first = number + 1
                typed += call
                number += len(call)
                if len(typed) >= BATCH_ROWS:
                    send_typed()
            elif call.__class__ is tuple:
                number += 1
                if not typed:
                    first = number
                typed.append(call)
                if len(typed) == BATCH_ROWS:
                    send_typed()
            elif isinstance(call, CallBatch):
                if typed:
                    send_typed(everything=True)
                send(call, number + 1)
                number += call.count
            else:
                number += 1
                if typed:
                    send_typed(everything=True)
                while pending:
                    stage_next()
                one_by_one((call,), number)
        if typed:
            send_typed(everything=True)
        while pending:
            stage_next()
        report.lines = number
        if report.invalid and not skip_invalid:
            raise ImportRejected(report.errors, report.lines, report.invalid)
        if rows:
            staged.add(rows)
        result = staged.commit()
    return _stored(storage, report, result)


def ingest_calls(storage: Storage, tenant_id: str, calls: list[Any]) -> ImportReport:
    """Store one pushed batch atomically: InvalidRequest names each bad call, nothing stored."""
    return store_calls(storage, tenant_id, parse_calls(calls), len(calls))


def parse_calls(calls: list[Any]) -> list[tuple[Any, ...]]:
    """The rows of a pushed batch; InvalidRequest naming each bad call (the field check, which
    the push endpoint makes before it checks the tenant binding).

    A push stores what it is given: a call's `sourceVersion` is ignored, as any key outside
    the import shape is, so a pushed call replaces the stored one whatever its version (and
    leaves it without one), and the answer's counts, new and replaced, stay whole."""
    clock = LocalTimeReader(zone("GMT"))
    rows: list[tuple[Any, ...]] = []
    errors: list[FieldError] = []
    for index, call in enumerate(calls):
        if not isinstance(call, dict):
            errors.append(FieldError(f"calls[{index}]", "is not a JSON object"))
            continue
        if "sourceVersion" in call:
            call = {key: value for key, value in call.items() if key != "sourceVersion"}
        row, found = parse_call(call, clock, f"calls[{index}]")
        if row is None:
            errors.extend(found)
        else:
            rows.append(row)
    if errors:
        raise InvalidRequest(
            errors[:MAX_REPORTED_ERRORS], f"{len(errors)} calls are invalid; none was stored"
        )
    return rows


def store_calls(
    storage: Storage, tenant_id: str, rows: list[tuple[Any, ...]], given: int
) -> ImportReport:
    """Store parsed rows of one pushed batch atomically."""
    result = storage.upsert_calls(tenant_id, rows)
    return ImportReport(
        lines=given,
        received=result.received,
        inserted=result.inserted,
        replaced=result.replaced,
    )
