"""Following Asterisk live: tail queue_log, store each call as it ends.

A `TailedFile` reads the whole lines appended to a path and notices logrotate: by rename (the
path names a new file: what is left of the old one is read first) and by copytruncate (the file
is shorter than what was read, or its first line changed). Its position is the byte offset of a
line, with that line's number and a fingerprint of the file's first line, so that a restart
knows whether the file at the path is still the one the position belongs to.

An `AsteriskFollower` feeds the lines to `QueueLogReader`, stores the calls it returns (a
continued call again, under the same callId), and only then saves, per file, the position of
the oldest line the reader still needs: after a restart (or a SIGKILL) it reads again from
there, rebuilds the calls it held and stores again only calls it had stored (replaced by
callId, never duplicated). A restart finds a position in a file rotated while it was stopped
in `PATH.1`; a call in progress across two rotations during a stop cannot be read again.

With `--cdr`, Master.csv is followed beside it. cdr_csv writes a call's rows at hangup, after
its last queue_log line; each poll reads Master.csv before the queue_log, so that no row is read
before its call's lines. A follower catching up on both files (or restarted) reads them in one
order by time (a queue_log line first on a tie), so a row meets its call while the reader still
holds it: it is then stored again, joined (time in the IVR, the caller's name where queue_log has
none), and a call that never reached a queue is stored from its rows alone. Master.csv's saved
position is the first row a restart needs: the oldest row of a call the reader still holds, and
no later than the first row that ends after the queue_log's resume line (the rows of every call
read again). A second number saved with it, the first row never read before, makes a restart
that reads rows again store only what joins a call it rebuilt: a row read again whose queue_log
lines are before the resume line would otherwise be taken for a call that never reached a queue.

Those three positions hold only together: a queue_log position from one poll and a Master.csv
one from the next would read the queue_log again from a line whose calls' rows are before the
Master.csv position (they are then stored again unjoined), and a first row never read before
from another poll stores a row read again as a call without a queue, or drops one never stored.
Each save is a write of its own (one transaction), and a SIGKILL can fall between any two, so
with `--cdr` a poll saves the three in the slot a restart does not read, then names that slot
in one last write: a restart reads the positions of the last poll whose saves all ended.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.ingest.asterisk import NOT_CALLS, CdrIndex, QueueLogReader
from recent_calls.ingest.bulk import MAX_LINE_BYTES
from recent_calls.ingest.sources import LocalClock

FINGERPRINT_BYTES = 256
READ_BYTES = 1 << 20
FINGERPRINT_LIMIT = 10**14
OFFSET_BITS = 36  # a saved position packs a 64 GiB offset and a short fingerprint in one number
SHORT_FINGERPRINTS = 2047  # 11 bits: the packed number stays under the largest watermark


@dataclass
class Position:
    """Where to start reading a file: a line's byte offset and number, and the file's first
    line's short fingerprint (0: not known yet, the file had no whole line)."""

    offset: int = 0
    line: int = 1
    fingerprint: int = 0

    def packed(self) -> int:
        """Offset and fingerprint as one number, saved at once (the line number only names
        lines in messages, and is saved apart)."""
        return self.fingerprint << OFFSET_BITS | self.offset

    @classmethod
    def unpacked(cls, packed: int, line: int) -> Position:
        return cls(packed & ((1 << OFFSET_BITS) - 1), line, packed >> OFFSET_BITS)


def short(mark: int) -> int:
    """The fingerprint a saved position keeps (0 stays 0: no whole line yet)."""
    return mark % SHORT_FINGERPRINTS + 1 if mark else 0


def fingerprint(first: bytes) -> int:
    """A number naming a file by its first line (queue_log's has a time and a callid)."""
    digest = hashlib.blake2b(first, digest_size=8).digest()
    return int.from_bytes(digest, "big") % FINGERPRINT_LIMIT or 1


def _first_line(handle: Any) -> bytes | None:
    data = os.pread(handle.fileno(), FINGERPRINT_BYTES, 0)
    end = data.find(b"\n")
    if end >= 0:
        return data[: end + 1]
    return data if len(data) == FINGERPRINT_BYTES else None


Read = tuple[int, int, int, str]
"""A line read: its number, the file it is in (a generation), its byte offset, its text."""
Offset = tuple[int, int, int, int]
"""A line kept for saving positions: its number, generation, byte offset, and time (s)."""


class TailedFile:
    """The whole lines appended to one path, across rotations; see the module's docstring."""

    def __init__(self, path: Path, start: Position, kind: str = "queue_log") -> None:
        self.path = path
        self.kind = kind  # what the file should be, for the message on a line that never ends
        self.handle: Any = None
        self.generation = 0  # counts the files read: line numbers go on across them
        self.fingerprints: dict[int, int] = {}  # of each generation's file
        self.rotations = 0
        self._partial = b""
        self._offset = 0  # of the next whole line to hand out (the partial one's start)
        self.line = start.line
        self.fingerprint = 0
        if start.fingerprint:
            # The file the position is in: still at the path, or rotated (`PATH.1`, renamed
            # or copied) while nobody followed; its rest is read first, then the path's file.
            for candidate in (path, Path(f"{path}.1")):
                if self._open(candidate, start):
                    return
        self.line = 1 if start.fingerprint else start.line
        self._open(path, None)

    def _open(self, path: Path, start: Position | None) -> bool:
        """Read `path` from `start` (None: from its beginning); False if it is not there, or
        is not the file `start` is in."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return False  # between logrotate's rename and Asterisk's reopen
        first = _first_line(handle)
        mark = fingerprint(first) if first is not None else 0
        offset = 0
        if start is not None:
            size = os.fstat(handle.fileno()).st_size
            if short(mark) != start.fingerprint or start.offset > size:
                handle.close()
                return False
            offset = start.offset
        handle.seek(offset)
        self.handle = handle
        self.fingerprint = self.fingerprints[self.generation] = mark
        self._offset = offset
        self._partial = b""
        return True

    def _rotated(self) -> str:
        """`renamed` when the path names another file now, `truncated` when this one was
        truncated (copytruncate) or rewritten from its start; else ``."""
        try:
            now = self.path.stat()
        except FileNotFoundError:
            return ""
        mine = os.fstat(self.handle.fileno())
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            return "renamed"
        if mine.st_size < self._offset + len(self._partial):
            return "truncated"
        first = _first_line(self.handle)
        if self.fingerprint and (first is None or fingerprint(first) != self.fingerprint):
            return "truncated"
        return ""

    def _copied(self) -> list[Read]:
        """After a copytruncate, what was appended between the last read and the copy: the
        rest of the copy (`PATH.1`, logrotate's name for it) if it is this file's copy."""
        copy = Path(f"{self.path}.1")
        try:
            handle = copy.open("rb")
        except OSError:
            return []
        with handle:
            first = _first_line(handle)
            size = os.fstat(handle.fileno()).st_size
            if first is None or fingerprint(first) != self.fingerprint or size < self._offset:
                return []
            handle.seek(self._offset)
            mine, self.handle = self.handle, handle
            try:
                return self._drain()
            finally:
                self.handle = mine

    def _drain(self) -> list[Read]:
        out: list[Read] = []
        while chunk := self.handle.read(READ_BYTES):
            data = self._partial + chunk
            start = 0
            while (end := data.find(b"\n", start)) >= 0:
                text = data[start : end + 1].decode("utf-8", errors="surrogateescape")
                out.append((self.line, self.generation, self._offset, text))
                self.line += 1
                self._offset += end + 1 - start
                start = end + 1
            self._partial = data[start:]
            if len(self._partial) > MAX_LINE_BYTES:  # no queue_log line is this long
                raise InvalidRequest(
                    [
                        FieldError(
                            f"{self.path} line {self.line}",
                            f"is longer than {MAX_LINE_BYTES} bytes",
                        )
                    ],
                    detail=f"{self.path} line {self.line} is longer than {MAX_LINE_BYTES} "
                    f"bytes, the longest line an import reads: is it a {self.kind}?",
                )
        if not self.fingerprint and out:
            first = _first_line(self.handle)
            self.fingerprint = fingerprint(first) if first is not None else 0
            self.fingerprints[self.generation] = self.fingerprint
        return out

    def read(self) -> list[Read]:
        """The new whole lines, the old file's rest first."""
        if self.handle is None:
            self.generation += 1
            if not self._open(self.path, None):
                self.generation -= 1
                return []
        lines = self._drain()
        rotated = self._rotated()
        if rotated:
            # What was written before the rename is still in the file this handle reads; what
            # was written before a copy is in the copy.
            lines += self._drain() if rotated == "renamed" else self._copied()
            self.handle.close()
            self.handle = None
            self.rotations += 1
            self.generation += 1
            if self._open(self.path, None):
                lines += self._drain()
            else:
                self.generation -= 1
        return lines

    def position(self, line: int | None, offsets: deque[Offset]) -> Position:
        """Where to read again from to see line `line` (None: the next line to come)."""
        if line is None:
            offsets.clear()  # every line kept is before the next one: none is needed again
        while line is not None and offsets and offsets[0][0] < line:
            offsets.popleft()
        if line is not None and offsets:
            number, generation, offset, _ = offsets[0]
            return Position(offset, number, short(self.fingerprints.get(generation, 0)))
        return Position(self._offset, self.line, short(self.fingerprint))

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


class Spans:
    """The first and last line of each call seen, so that a resume position never falls
    inside a call: read again from its middle, a call the reader has already forgotten
    (stored, and settled) would be rebuilt from its last lines and stored half."""

    def __init__(self) -> None:
        self.calls: dict[str, list[int]] = {}

    def add(self, key: str, line: int) -> None:
        span = self.calls.get(key)
        if span is None:
            self.calls[key] = [line, line]
        else:
            span[1] = line

    def resume(self, line: int | None, next_line: int) -> int | None:
        """The line to read again from: `line` (None: none needed, `next_line`), moved back
        to the first line of any call it falls inside; None when that is `next_line`."""
        start = next_line if line is None else line
        while True:
            inside = [first for first, last in self.calls.values() if first < start <= last]
            if not inside:
                break
            start = min(inside)
        # Calls wholly before the position are never read again: forget them.
        for key in [key for key, (_, last) in self.calls.items() if last < start]:
            del self.calls[key]
        return None if start >= next_line else start


def _callid(text: str) -> str | None:
    parts = text.split("|", 2)
    if len(parts) < 3 or parts[1] in NOT_CALLS:
        return None
    return parts[1]


def _log_time(text: str) -> int:
    """A queue_log line's epoch seconds; -1 when it has none (the reader names the line)."""
    head = text[: text.find("|")]
    return int(head) if head.isdigit() and head.isascii() and len(head) < 12 else -1


def _row_end(text: str, clock: LocalClock) -> int:
    """A Master.csv row's end (else its start) in epoch seconds; -1 when it has none."""
    try:
        row = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return -1
    if len(row) < 12:
        return -1
    try:
        return clock.seconds(row[11] or row[9])
    except ValueError:
        return -1


def merged(log: list[Read], rows: list[Read], clock: LocalClock) -> Iterator[tuple[bool, Read]]:
    """queue_log lines and Master.csv rows in one order by time, each file's own order kept, a
    queue_log line first on a tie; (is it a Master.csv row, the line). A line without a time
    goes with the line before it."""
    log_times = [_log_time(text) for _, _, _, text in log]
    row_times = [_row_end(text, clock) for _, _, _, text in rows]
    return _merged(log, log_times, rows, row_times)


def _merged(
    log: list[Read], log_times: list[int], rows: list[Read], row_times: list[int]
) -> Iterator[tuple[bool, Read]]:
    """`merged`, with each line's time already read."""
    i = j = 0
    log_time = row_time = -1
    while i < len(log) or j < len(rows):
        if i < len(log):
            log_time = max(log_time, log_times[i])
        if j < len(rows):
            row_time = max(row_time, row_times[j])
        if j >= len(rows) or (i < len(log) and log_time <= row_time):
            yield False, log[i]
            i += 1
        else:
            yield True, rows[j]
            j += 1


Store = Callable[[list[dict[str, Any]]], None]
GetPosition = Callable[[str], Position | None]
SavePosition = Callable[[str, Position], None]
"""Saves a position: its offset and fingerprint in one write, its line perhaps in another."""


class AsteriskFollower:
    """Reads what Asterisk appends and stores each call as it ends; see the module's docstring."""

    def __init__(
        self,
        queue_log: Path,
        *,
        server: str,
        store: Store,
        load: GetPosition,
        save: SavePosition,
        cdr: Path | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.store = store
        self._save = save
        self._saved: dict[str, Position] = {}
        self.log_key = f"follow:asterisk:{queue_log.resolve()}"
        # With --cdr, the slot of the positions a restart reads: 0, their own keys (where a
        # follower without --cdr keeps its one position, and found if no slot was named), or 1.
        self._slot = 0
        self._committed: dict[str, Position] | None = None
        if cdr is not None:
            self.cdr_key = f"follow:asterisk-cdr:{cdr.resolve()}"
            committed = load(self.cdr_key + "#slot")
            # Only 1 names the other slot: a watermark anyone with the admin API may set, and
            # any other value would lead the saves to keys no restart reads.
            self._slot = 1 if committed is not None and committed.offset == 1 else 0
        index = None if cdr is None else CdrIndex(timezone, cdr.name)
        self.reader = QueueLogReader(server, cdr=index)
        self.log = TailedFile(queue_log, load(self._key(self.log_key)) or Position())
        self._log_offsets: deque[Offset] = deque()
        self._log_spans = Spans()
        self.cdr: TailedFile | None = None
        self._cdr_offsets: deque[Offset] = deque()
        self._replay_before = 0  # Master.csv rows before this one were read before a restart
        if cdr is not None:
            saved = load(self._key(self.cdr_key))
            self.cdr = TailedFile(cdr, saved or Position(), kind="Master.csv")
            fresh = load(self._key(self.cdr_key + "#fresh"))
            if saved is not None and fresh is not None and self.cdr.line == saved.line:
                # The same file as before the restart: the rows it read then are read again.
                self._replay_before = fresh.line
        self.stored = 0

    def poll(self) -> int:
        """Read what is new, store the calls it ended, save the positions; the calls stored."""
        # Master.csv first: cdr_csv writes a call's rows after its last queue_log line, so
        # every row read now has its call's lines in this read of the queue_log or before.
        # Read the other way round, a call logged and hung up between the two reads had its
        # rows read before its lines, and was stored as a call that never reached a queue.
        rows = self.cdr.read() if self.cdr is not None else []
        lines = self.log.read()
        log_times = [_log_time(text) for _, _, _, text in lines]
        for (number, generation, offset, text), t in zip(lines, log_times, strict=True):
            self._log_offsets.append((number, generation, offset, t))
            if (callid := _callid(text)) is not None:
                self._log_spans.add(callid, number)
        calls: list[dict[str, Any]] = []
        if not rows:
            calls = self.reader.feed([(number, text) for number, _, _, text in lines])
        else:
            calls = self._feed_merged(lines, log_times, rows)
        if calls:
            latest = {call["callId"]: call for call in calls}  # a batch stores a call once
            self.store(list(latest.values()))
            self.stored += len(latest)
        if lines or rows or calls:
            self._save_positions()
        return len(calls)

    def _feed_merged(
        self, lines: list[Read], log_times: list[int], rows: list[Read]
    ) -> list[dict[str, Any]]:
        """Feed both files' new lines to the reader in one order by time (runs of each)."""
        reader = self.reader
        assert reader.cdr is not None
        clock = reader.cdr.clock
        row_times = [_row_end(text, clock) for _, _, _, text in rows]
        for (number, generation, offset, _), t in zip(rows, row_times, strict=True):
            self._cdr_offsets.append((number, generation, offset, t))
        calls: list[dict[str, Any]] = []
        run: list[tuple[int, str]] = []
        run_is_row = False

        def flush() -> None:
            if not run:
                return
            if not run_is_row:
                calls.extend(reader.feed(run))
                return
            replayed = [line for line in run if line[0] < self._replay_before]
            fresh = [line for line in run if line[0] >= self._replay_before]
            if replayed:
                calls.extend(reader.feed_cdr(replayed, replay=True))
            if fresh:
                calls.extend(reader.feed_cdr(fresh))

        for is_row, (number, _, _, text) in _merged(lines, log_times, rows, row_times):
            if is_row != run_is_row:
                flush()
                run, run_is_row = [], is_row
            run.append((number, text))
        flush()
        return calls

    def save(self, key: str, position: Position) -> None:
        """Save a file's position, if it moved (a write per poll otherwise)."""
        if self._saved.get(key) != position:
            self._save(key, position)
            self._saved[key] = position

    def _key(self, key: str, slot: int | None = None) -> str:
        """Where a position is saved: in `slot` (None: the one a restart reads)."""
        slot = self._slot if slot is None else slot
        return f"{key}#{slot}" if slot else key

    def _save_positions(self) -> None:
        line = self._log_spans.resume(self.reader.oldest_pending_line(), self.log.line)
        if self.cdr is None:
            # One position, one save: whenever a kill falls, a restart reads a whole one.
            self.save(self.log_key, self.log.position(line, self._log_offsets))
            return
        # From the resume line's time on, every row may be needed again.
        since = None
        if line is not None:
            since = next((t for n, _, _, t in self._log_offsets if n >= line and t >= 0), None)
        positions = {
            self.cdr_key + "#fresh": Position(0, self.cdr.line, 0),
            self.cdr_key: self.cdr.position(self._cdr_line(since), self._cdr_offsets),
            self.log_key: self.log.position(line, self._log_offsets),
        }
        if positions == self._committed:
            return
        # All three in the slot a restart does not read, then that slot named in one write
        # (an offset: saved at once): a kill before it leaves the last poll's three whole.
        slot = 1 - self._slot
        for key, position in positions.items():
            self.save(self._key(key, slot), position)
        self.save(self.cdr_key + "#slot", Position(slot))
        self._slot, self._committed = slot, positions

    def _cdr_line(self, since: int | None) -> int | None:
        """The first Master.csv row a restart needs (None: the next one to come)."""
        held = [entry[9] for entry in self.reader.cdr.calls.values()] if self.reader.cdr else []
        if since is not None:
            ending = next((n for n, _, _, t in self._cdr_offsets if t >= since), None)
            if ending is not None:
                held.append(ending)
        return min(held) if held else None

    def run(self, should_stop: Callable[[], bool], interval: float = 0.2) -> None:
        """Poll every `interval` seconds until `should_stop()`."""
        while not should_stop():
            if not self.poll():
                time.sleep(interval)

    def close(self) -> None:
        self.log.close()
        if self.cdr is not None:
            self.cdr.close()
