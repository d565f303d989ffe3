"""Imports from telephony: the readers' calls in, all of a source or none of it.

`read_source` turns the files of one format into calls in the import shape (the pure readers
of `asterisk`, `freeswitch` and `connect`), counting into a `SourceReport`; `all_or_nothing`
raises the import's one rejection once the reader has read everything and found a bad record,
so that a transaction taking the calls is rolled back and stores none of them.
"""

from __future__ import annotations

import itertools
import os
import socket
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recent_calls.errors import FieldError, ImportRejected, InvalidRequest
from recent_calls.ingest.asterisk import read_asterisk
from recent_calls.ingest.asterisk_parallel import read_asterisk_parallel
from recent_calls.ingest.bulk import MAX_LINE_BYTES, ImportReport
from recent_calls.ingest.connect import read_connect
from recent_calls.ingest.freeswitch import read_freeswitch
from recent_calls.ingest.sources import SourceError, SourceReport, file_lines, refused

FORMATS = ("json", "asterisk", "freeswitch", "connect")
SOURCE_FORMATS = FORMATS[1:]
MAX_SOURCE_FILE_BYTES = 64 << 20
"""The largest single FreeSWITCH or Connect file read whole (a CDR is a few KiB; a day of
contact records a few MiB): larger ones are refused by name rather than filling memory."""


def default_server() -> str:
    """The name an Asterisk import or follower puts in callIds when none is given: the host's."""
    return socket.gethostname().split(".", 1)[0] or "asterisk"


@dataclass
class TelephonyReport:
    """An import's report, with what only telephony has: calls left open, unknown events."""

    stored: ImportReport = field(default_factory=ImportReport)
    source: SourceReport = field(default_factory=SourceReport)

    @property
    def invalid(self) -> int:
        return self.source.invalid + self.stored.invalid

    @property
    def errors(self) -> list[FieldError]:
        return [*self.source.errors, *self.stored.errors]


def _whole(path: Path) -> bytes:
    """The whole file, refused by name past MAX_SOURCE_FILE_BYTES: read with a bound rather
    than trusted to its size, which a device or a FIFO does not tell."""
    try:
        with path.open("rb") as source:
            data = source.read(MAX_SOURCE_FILE_BYTES + 1)
    except OSError as exc:
        raise refused(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_SOURCE_FILE_BYTES:
        raise refused(str(path), f"is larger than {MAX_SOURCE_FILE_BYTES} bytes; split it")
    return data


def _files(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder standing for the regular files in it, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise refused(str(path), "does not exist")
    return found


TYPED_BATCH = 2_000
"""Typed calls handed over at once (a list): an import then touches each call once, not three
generators deep."""
PARALLEL_BYTES = 16 << 20
"""A queue_log this large (about 45,000 of the demo's calls) is read in a process beside the
importer (`asterisk_parallel`), when it is a regular file and the machine has more than one
core. Past it that pays: 60,000 calls (22 MB) imported at 30,366-30,391 calls/s so, against
23,861-24,499 in one process (bench.telephony --calls 60000 --import, two runs each)."""


def _asterisk(
    queue_log: Path,
    report: SourceReport,
    cdr: Path | None,
    timezone: str,
    server: str | None,
    *,
    typed: bool,
) -> Iterator[Any]:
    """An Asterisk source's calls: read beside the import when the queue_log is large (typed
    calls only), else in this process; typed calls come in lists."""
    server = server or default_server()
    cdr_name = cdr.name if cdr is not None else "Master.csv"
    if typed and (os.cpu_count() or 1) > 1 and _size(queue_log) >= PARALLEL_BYTES:
        yield from read_asterisk_parallel(
            queue_log,
            server=server,
            cdr=cdr,
            timezone=timezone,
            cdr_name=cdr_name,
            report=report,
            max_line=MAX_LINE_BYTES,
        )
        return
    calls = read_asterisk(
        file_lines(queue_log, MAX_LINE_BYTES),
        server=server,
        cdr=None if cdr is None else file_lines(cdr, MAX_LINE_BYTES),
        timezone=timezone,
        cdr_name=cdr_name,
        report=report,
        typed=typed,
    )
    if not typed:
        yield from calls
        return
    while batch := list(itertools.islice(calls, TYPED_BATCH)):
        yield batch


def _size(path: Path) -> int:
    """The size of a regular file; 0 for anything else (a FIFO, a device) or a missing one."""
    try:
        status = path.stat()
    except OSError:
        return 0
    return status.st_size if stat.S_ISREG(status.st_mode) else 0


def read_source(
    fmt: str,
    paths: list[Path],
    report: SourceReport,
    *,
    cdr: Path | None = None,
    timezone: str | None = None,
    server: str | None = None,
    typed: bool = False,
) -> Iterator[Any]:
    """The calls of a source's files, in the import shape; what was read goes into `report`.
    `typed`: an Asterisk reader's calls come as lists of READER_FIELDS tuples (see
    `bulk.import_calls`)."""
    try:
        if fmt == "asterisk":
            if len(paths) != 1:
                raise refused("queue_log", "give exactly one queue_log (and --cdr Master.csv)")
            yield from _asterisk(paths[0], report, cdr, timezone or "UTC", server, typed=typed)
        elif fmt == "freeswitch":
            for path in _files(paths):
                yield from read_freeswitch(_whole(path), name=path.name, report=report)
        elif fmt == "connect":
            for path in _files(paths):
                yield from read_connect(_whole(path), name=path.name, report=report)
        else:
            raise refused("format", f"expected one of {', '.join(SOURCE_FORMATS)}, not {fmt!r}")
    except SourceError as exc:
        raise InvalidRequest([exc.error], detail=str(exc)) from None


def all_or_nothing(
    calls: Iterable[Any], report: SourceReport, *, skip_invalid: bool
) -> Iterator[Any]:
    """The calls, then ImportRejected (naming every bad record) if the source had any and the
    import does not skip them: raised inside the import, it rolls back what was staged."""
    yield from calls
    if report.invalid and not skip_invalid:
        # A record that is not even JSON is counted invalid but not read (Connect, FreeSWITCH).
        raise ImportRejected(report.errors, max(report.lines, report.invalid), report.invalid)
