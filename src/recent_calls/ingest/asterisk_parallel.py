"""An Asterisk import's read of a large queue_log, with the queue_log read in a process of its own.

`read_asterisk` reads Master.csv whole, then the queue_log, in the importer's process, which
then checks and stores each call: on a machine with two cores, one does all of it. Here a
process beside the importer reads the queue_log (a `QueueLogReader` without Master.csv) while
the importer indexes Master.csv (`CdrIndex`). The reader sends its calls in messages, their
callids apart; the importer reads only the callids, takes each call's rows from the index in
the reader's order, and hands the calls still encoded, with their rows, to the import's worker
processes (`UnjoinedCalls`, a `bulk.CallBatch`), which join (`join_cdr`), check and encode
them. At the end the importer makes the calls of the rows no call took (`cdr_call`).

The calls, their order and the report are `read_asterisk`'s (tests/test_asterisk_parallel.py
holds the two side by side). A thread keeps what the reader sends as it comes, so the reader
does not wait on the pipe: any number of messages while the index is being built, then only a
few more; memory is bounded by the index and what arrived before it was whole.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import pickle
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.ingest.asterisk import (
    CdrIndex,
    QueueLogReader,
    block_feeds,
    cdr_call,
    join_cdr,
)
from recent_calls.ingest.bulk import CallBatch, forkserver, worker_started
from recent_calls.ingest.sources import Block, SourceError, SourceReport, file_blocks

PIPE_BYTES = 1 << 20
"""The pipe from the reader holds this much (Linux; 64 KiB elsewhere): at 64 KiB the reader
waited on the importer a third of its time."""
KEPT_MESSAGES = 8
"""The reader's messages kept, once Master.csv is indexed, beyond those kept until then (8
are about 5 MiB)."""
MESSAGE_CALLS = 5_000
"""Calls the reader sends at once (about 600 KiB): each message is then made, checked and
encoded by an import worker as one batch."""

# A message's first byte: what follows it (calls in `marshal`; the last message, pickled).
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
    message_calls: int = MESSAGE_CALLS,
) -> Iterator[CallBatch | list[tuple[Any, ...]]]:
    """The calls of `read_asterisk(..., typed=True)` of the files, in batches of a few thousand
    (`UnjoinedCalls`, whose calls are made where they are checked, then a list), the queue_log
    read in another process; InvalidRequest, as from `read_asterisk`, for a file that cannot
    be read."""
    server = server.strip()  # as QueueLogReader names its calls
    context = forkserver()
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read_queue_log,
        args=(sending, os.getpid(), queue_log, server, max_line, message_calls),
        name="asterisk-queue_log",
        daemon=True,
    )
    _widen(sending)
    reader.start()
    sending.close()
    keeper = _Keeper(receiving)
    try:
        index = CdrIndex(timezone, cdr_name)
        if cdr is not None:
            index.feed_blocks(_sharing(file_blocks(cdr, max_line)))
        keeper.limit(KEPT_MESSAGES)
        yield from _joined(keeper.messages(), index, server, report)
    finally:
        keeper.stop()
        if reader.is_alive():
            reader.kill()
        reader.join()
        keeper.thread.join()
        receiving.close()


def _widen(pipe: Connection) -> None:
    """Let the pipe hold more than one of the reader's messages instead of 64 KiB: the reader
    then seldom waits for the importer to take one, chunk by chunk."""
    with contextlib.suppress(OSError, AttributeError, ImportError):  # Linux only
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _sharing(blocks: Iterator[Block]) -> Iterator[Block]:
    """The blocks, letting the keeper thread run between them (a block is a few thousand
    Master.csv rows)."""
    for block in blocks:
        time.sleep(0)
        yield block


class _Keeper:
    """A thread that receives the reader's messages as they come, so that the reader seldom
    waits on the pipe: any number of them until `limit` (while Master.csv is being indexed,
    the importer takes none), then no more than a few more than were kept then: the reader
    goes on while the importer works through them."""

    def __init__(self, receiving: Connection) -> None:
        self.receiving = receiving
        self.kept: deque[bytes | BaseException] = deque()
        self.most: float = float("inf")
        self.stopping = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._keep, name="asterisk-keeper", daemon=True)
        self.thread.start()

    def _keep(self) -> None:
        changed, kept = self.changed, self.kept
        while True:
            with changed:
                while len(kept) >= self.most and not self.stopping:
                    changed.wait()
                if self.stopping:
                    return
            try:
                message: bytes | BaseException = self.receiving.recv_bytes()
            except (EOFError, OSError) as exc:
                message = exc
            with changed:
                kept.append(message)
                changed.notify_all()
            if not isinstance(message, bytes) or message[:1] != PART:
                return

    def limit(self, more: int) -> None:
        """Keep no more than `more` messages besides those kept now."""
        with self.changed:
            self.most = len(self.kept) + more

    def messages(self) -> Iterator[Any]:
        """The reader's messages as (kind, content), in order, to its last."""
        changed, kept = self.changed, self.kept
        while True:
            with changed:
                while not kept:
                    changed.wait()
                message = kept.popleft()
                changed.notify_all()
            kind, content = _body(message)
            yield kind, content
            if kind != PART:
                return

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()


def _body(message: bytes | BaseException) -> Any:
    """A message's (kind, content); the error the reader stopped with, raised here."""
    if isinstance(message, BaseException):
        raise RuntimeError("the Asterisk queue_log reader process ended without a word")
    kind = message[:1]
    if kind == PART:  # the calls' keys, read here; the calls, left to whoever makes them
        size = int.from_bytes(message[1:9], "little")
        return kind, (_unmarshal(message[9 : 9 + size]), message[9 + size :])
    content = _loads(message[1:])
    if kind == FAILED:
        errors, detail, crash = content
        if crash:
            raise RuntimeError(f"the Asterisk queue_log reader process failed:\n{crash}")
        raise InvalidRequest([FieldError(*error) for error in errors], detail=detail)
    return kind, content


def _loads(data: bytes) -> Any:
    # Written by `_send` in this import's own process, through a pipe only the two hold.
    return pickle.loads(data)  # noqa: S301


def _unmarshal(data: bytes) -> Any:
    # Written by `_send_calls` in this import's own process, through a pipe only the two hold.
    return marshal.loads(data)  # noqa: S302


class UnjoinedCalls(CallBatch):
    """Calls of the queue_log reader as it sent them (`marshal`), with the Master.csv rows each
    is joined with (or None), in `marshal` too: made into typed calls by `made()` where they
    are checked. (Pickling a batch's 5000 index entries, list by list, took the importer's
    process more than a second per 1M calls.)"""

    def __init__(self, calls: bytes, entries: list[list[Any] | None]) -> None:
        self.calls = calls
        self.entries = marshal.dumps(entries)
        self.count = len(entries)

    def made(self) -> list[tuple[Any, ...]]:
        calls, entered = _unmarshal(self.calls)
        entries = _unmarshal(self.entries)
        return [
            call if entry is None else join_cdr(call, first, entry)
            for call, first, entry in zip(calls, entered, entries, strict=True)
        ]


def _joined(
    messages: Iterator[Any], index: CdrIndex, server: str, report: SourceReport
) -> Iterator[CallBatch | list[tuple[Any, ...]]]:
    # The importer's side: each call's rows taken from the index in the reader's order (the
    # first call of a callId takes them), the calls joined where they are checked; then the
    # rows no call took.
    pop = index.calls.pop
    for kind, content in messages:
        if kind == DONE:
            log_report, still_open = content
            break
        keys, calls = content
        yield UnjoinedCalls(calls, [pop(key, None) for key in keys])
    left = [
        cdr_call(server, key, entry)
        for key, entry in index.calls.items()
        if key not in still_open
    ]  # fmt: skip
    log_report.calls += len(left)
    if left:
        yield left
    report.merge(log_report)
    report.merge(index.report)


def _send(sending: Connection, kind: bytes, body: Any) -> None:
    sending.send_bytes(kind + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))


def _send_calls(
    sending: Connection, calls: list[tuple[Any, ...]], entered: list[int], prefix: int
) -> None:
    # The calls' keys (their queue_log callids) encoded apart, so that the importer reads
    # only them.
    # `marshal`, not pickle: tuples, lists, text and ints only, between two processes of one
    # Python, and about a third fewer instructions to write and read (callgrind: 10.8 against
    # 15.8 billion for 1M calls).
    keys = marshal.dumps([call[0][prefix:] for call in calls])
    body = marshal.dumps((calls, entered))
    sending.send_bytes(PART + len(keys).to_bytes(8, "little") + keys + body)


def _read_queue_log(
    sending: Connection,
    importer: int,
    path: Path,
    server: str,
    max_line: int,
    message_calls: int,
) -> None:
    """The reader process: parts of (keys; calls, each one's first ENTERQUEUE time) of about
    `message_calls` calls, then (its report, the calls left open); or the error it stopped
    with."""
    worker_started(importer)
    try:
        reader = QueueLogReader(server, hold_finished=True, typed=True)
        entered: list[int] = []
        reader.entered = entered
        prefix = len(server) + 1
        calls: list[tuple[Any, ...]] = []
        for feed in block_feeds(file_blocks(path, max_line)):
            calls += reader.feed(enumerate(feed.lines, feed.first), plain=feed.plain)
            if len(calls) >= message_calls:
                _send_calls(sending, calls, entered, prefix)
                calls = []
                entered.clear()
        calls += reader.close()
        if calls:
            _send_calls(sending, calls, entered, prefix)
        _send(sending, DONE, (reader.report, set(reader.open)))
    except (SourceError, InvalidRequest) as exc:
        errors = [exc.error] if isinstance(exc, SourceError) else exc.errors
        _send(sending, FAILED, ([(e.field, e.message) for e in errors], str(exc), None))
    except BaseException:
        _send(sending, FAILED, ([], "", traceback.format_exc()))
    finally:
        sending.close()
