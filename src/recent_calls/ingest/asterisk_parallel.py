"""An Asterisk import's read of a large queue_log, with the queue_log read in a process of its own.

`read_asterisk` reads Master.csv whole, then the queue_log, in the importer's process, which
then checks and stores each call: on a machine with two cores, one does all of it. Here a
process beside the importer reads the queue_log (a `QueueLogReader` without Master.csv) while
the importer indexes Master.csv (`CdrIndex`); the importer then joins each call with its rows
(`join_cdr`) as the calls arrive, makes the calls of the rows no queue_log line names
(`cdr_call`), and stores them.

The calls, their order and the report are `read_asterisk`'s (tests/test_asterisk_parallel.py
holds the two side by side). While the index is being built, a thread keeps what the reader
sends (pickled: about a fifth of the calls' size as objects), so the reader does not wait;
once it is built, the reader waits on a full pipe while the importer stores, so memory stays
bounded by the index and what arrived before it was whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.ingest.asterisk import (
    FEED_LINES,
    CdrIndex,
    QueueLogReader,
    cdr_call,
    join_cdr,
)
from recent_calls.ingest.bulk import worker_started
from recent_calls.ingest.sources import SourceError, SourceReport, file_lines

PIPE_BYTES = 1 << 20

# A message's first byte: what the pickle after it holds.
PART, DONE, FAILED = b"p", b"d", b"!"


def read_asterisk_parallel(
    queue_log: Path,
    *,
    server: str,
    cdr: Path | None,
    timezone: str,
    cdr_name: str,
    report: SourceReport,
    max_line: int,
) -> Iterator[tuple[Any, ...]]:
    """`read_asterisk(..., typed=True)` of the files, the queue_log read in another process;
    InvalidRequest, as from `read_asterisk`, for a file that cannot be read."""
    server = server.strip()  # as QueueLogReader names its calls
    # forkserver, not fork: the importer may be a server with database threads running.
    context = multiprocessing.get_context("forkserver")
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read_queue_log,
        args=(sending, os.getpid(), queue_log, server, max_line),
        name="asterisk-queue_log",
        daemon=True,
    )
    _widen(sending)
    reader.start()
    sending.close()
    try:
        index = CdrIndex(timezone, cdr_name)
        if cdr is None:
            messages = _messages(receiving, [])
        else:
            kept = _Keeper(receiving)
            try:
                index.feed(file_lines(cdr, max_line), touched=False)
            finally:
                early = kept.stop()
            messages = _messages(receiving, early)
        yield from _joined(messages, index, server, report)
    finally:
        receiving.close()
        if reader.is_alive():
            reader.kill()
        reader.join()


def _widen(pipe: Connection) -> None:
    """Let the pipe hold a few of the reader's messages (each about 250 KiB) instead of 64 KiB:
    the reader then seldom waits for the importer to take one, chunk by chunk."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only; the default elsewhere
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Keeper:
    """A thread that receives the reader's messages and keeps them, until stopped."""

    def __init__(self, receiving: Connection) -> None:
        self.receiving = receiving
        self.kept: queue.SimpleQueue[bytes | BaseException] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._keep, name="asterisk-keeper", daemon=True)
        self.thread.start()

    def _keep(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.receiving.recv_bytes()
            except (EOFError, OSError) as exc:
                self.kept.put(exc)
                return
            self.kept.put(message)
            if message[:1] != PART:
                return

    def stop(self) -> list[bytes | BaseException]:
        """What was kept; the thread is gone, and the connection the caller's alone."""
        self.stopping.set()
        self.thread.join()  # it waits for no more than the reader's next message
        kept = []
        while not self.kept.empty():
            kept.append(self.kept.get())
        return kept


def _messages(receiving: Connection, early: list[bytes | BaseException]) -> Iterator[Any]:
    """The reader's messages as (kind, content): those kept early, then the rest as they come."""
    for message in early:
        kind, content = _body(message)
        yield kind, content
        if kind != PART:
            return
    while True:
        try:
            kind, content = _body(receiving.recv_bytes())
        except EOFError as exc:
            kind, content = _body(exc)
        yield kind, content
        if kind != PART:
            return


def _body(message: bytes | BaseException) -> Any:
    """A message's (kind, content); the error the reader stopped with, raised here."""
    if isinstance(message, BaseException):
        raise RuntimeError("the Asterisk queue_log reader process ended without a word")
    # Written by `_send` in this import's own process, through a pipe only the two hold.
    content = pickle.loads(message[1:])  # noqa: S301
    if message[:1] == FAILED:
        errors, detail, crash = content
        if crash:
            raise RuntimeError(f"the Asterisk queue_log reader process failed:\n{crash}")
        raise InvalidRequest([FieldError(*error) for error in errors], detail=detail)
    return message[:1], content


def _joined(
    messages: Iterator[Any], index: CdrIndex, server: str, report: SourceReport
) -> Iterator[tuple[Any, ...]]:
    # The importer's side: each call joined with its rows, then the rows left over.
    entries = index.calls
    prefix = len(server) + 1
    for kind, content in messages:
        if kind == DONE:
            log_report, still_open = content
            break
        calls, entered = content
        for call, first in zip(calls, entered, strict=True):
            entry = entries.pop(call[0][prefix:], None) if entries else None
            yield call if entry is None else join_cdr(call, first, entry)
    for key, entry in entries.items():
        if key not in still_open:
            log_report.calls += 1
            yield cdr_call(server, key, entry)
    report.merge(log_report)
    report.merge(index.report)


def _send(sending: Connection, kind: bytes, body: Any) -> None:
    sending.send_bytes(kind + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))


def _read_queue_log(
    sending: Connection, importer: int, path: Path, server: str, max_line: int
) -> None:
    """The reader process: parts of (calls, each one's first ENTERQUEUE time), then (its
    report, the calls left open); or the error it stopped with."""
    worker_started(importer)
    try:
        reader = QueueLogReader(server, hold_finished=True, typed=True)
        entered: list[int] = []
        reader.entered = entered
        batch: list[tuple[int, str]] = []
        for line in file_lines(path, max_line):
            batch.append(line)
            if len(batch) == FEED_LINES:
                calls = reader.feed(batch)
                if calls:
                    _send(sending, PART, (calls, entered))
                    entered.clear()
                batch = []
        calls = [*reader.feed(batch), *reader.close()]
        if calls:
            _send(sending, PART, (calls, entered))
        _send(sending, DONE, (reader.report, set(reader.open)))
    except (SourceError, InvalidRequest) as exc:
        errors = [exc.error] if isinstance(exc, SourceError) else exc.errors
        _send(sending, FAILED, ([(e.field, e.message) for e in errors], str(exc), None))
    except BaseException:
        _send(sending, FAILED, ([], "", traceback.format_exc()))
    finally:
        sending.close()
