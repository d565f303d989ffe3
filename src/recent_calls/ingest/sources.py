"""What the telephony readers share: their report, their one error, and local wall-clock times."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from recent_calls.errors import FieldError, InvalidRequest, RecentCallsError
from recent_calls.query.windows import zone

MAX_REPORTED_ERRORS = 1000

# The import shape's empty values, for the fields some telephony source gives: what a field is
# when this source cannot give it. The fields none gives (muteDuration, agentMuteCount,
# scheduleHours, postCallSurvey, voiceComment, totalScore, voiceCommentFileNames) are left
# out of the calls the readers make, and take the import's own empty values.
EMPTY_CALL: dict[str, Any] = {
    "callDuration": 0,
    "agentCallHandlingDuration": 0,
    "timeInIVR": 0,
    "holdDuration": 0,
    "maximumHoldDuration": 0,
    "waitTime": 0,
    "abandonTime": 0,
    "transferCount": 0,
    "agentHoldCount": 0,
    "queueId": "",
    "agentId": "",
    "agentGroup": "",
    "transactionId": "",
    "callerName": "",
    "callerNumber": "",
    "dialedNumber": "",
    "callType": "",
    "callSubType": "",
    "hungupBy": "",
    "destinationNumber": "",
    "callerPhoneNumber": "",
}


class SourceError(RecentCallsError):
    """A record (or a whole file) that cannot be read, named as the JSON import names lines."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.error = FieldError(where, message)


@dataclass
class SourceReport:
    """What a reader read: lines, calls made, bad records named, calls left open, unknown events."""

    lines: int = 0
    calls: int = 0
    invalid: int = 0
    open_calls: int = 0
    unknown_events: int = 0
    stale_calls: int = 0  # calls a follower gave up on: no line for a day (a lost last line)
    skipped: int = 0  # records that are not calls to store (agent legs, chats, older duplicates)
    errors: list[FieldError] = field(default_factory=list)

    def merge(self, part: SourceReport) -> None:
        """Add what another reader of the same source read (its errors up to the bound)."""
        for count in _COUNTS:
            setattr(self, count, getattr(self, count) + getattr(part, count))
        self.errors.extend(part.errors[: max(0, MAX_REPORTED_ERRORS - len(self.errors))])

    def fail(self, where: str, message: str) -> None:
        """Count one bad record and keep its error (up to MAX_REPORTED_ERRORS of them)."""
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(FieldError(where, message))


_COUNTS = tuple(item.name for item in fields(SourceReport) if item.name != "errors")


def numbered(text: str | bytes) -> list[tuple[int, str]]:
    """A whole file's text as (line number, line) pairs, numbered from 1."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return list(enumerate(text.splitlines(), start=1))


def refused(where: str, message: str) -> InvalidRequest:
    """The error of a source an import cannot read at all (a file, an option)."""
    return InvalidRequest([FieldError(where, message)], detail=f"{where} {message}")


def file_lines(path: Path, max_line: int) -> Iterator[tuple[int, str]]:
    """A file's lines, numbered; a line longer than `max_line` is refused as soon as it is
    read, so an endless one (a corrupt log, /dev/zero) cannot fill memory."""
    # Bytes that are not UTF-8 stay visible (as surrogates) so the reader names their line.
    try:
        with path.open(encoding="utf-8", errors="surrogateescape", newline="\n") as source:
            read_line = source.readline
            number = 0
            while line := read_line(max_line + 1):
                number += 1
                if len(line) > max_line and not line.endswith("\n"):
                    raise _long_line(path, number, max_line)
                yield number, line
    except OSError as exc:
        raise refused(str(path), f"cannot be read: {exc.strerror or exc}") from None


BLOCK_BYTES = 1 << 20
"""How much of a file `file_blocks` reads at a time."""
PLAIN_LONGEST = 1024
"""The longest line of a plain block: no field of it can be longer than a record holds."""


class Block(NamedTuple):
    """Consecutive lines of a file, without their line ends: `lines[0]` is line `first`.
    `plain`: each is UTF-8 text with no NUL and at most PLAIN_LONGEST characters, so that a
    reader need not look at them one by one for what no record may hold."""

    first: int
    lines: list[str]
    plain: bool
    ended: bool = True  # whether its last line has a line end (a file's last may not)


def file_blocks(path: Path, max_line: int, size: int = BLOCK_BYTES) -> Iterator[Block]:
    """A file's lines, numbered from 1, about `size` bytes at a time: `file_lines` for a reader
    that takes a block at once (an import's), with each block checked by C-level scans instead
    of line by line. A line longer than `max_line` is refused as `file_lines` refuses it, before
    more than a few times `max_line` is held."""
    try:
        with path.open("rb") as source:
            read = source.read
            number, rest = 1, b""
            while chunk := read(size):
                data = rest + chunk if rest else chunk
                cut = data.rfind(b"\n") + 1
                if not cut:  # no line end yet: one line, so far
                    if len(data) > 4 * max_line + 4:  # more characters than max_line, surely
                        raise _long_line(path, number, max_line)
                    rest = data
                    continue
                rest = data[cut:]
                block = _decoded_block(path, number, data[:cut], max_line)
                number += len(block.lines)
                yield block
            if rest:
                yield _decoded_block(path, number, rest + b"\n", max_line)._replace(ended=False)
    except OSError as exc:
        raise refused(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _decoded_block(path: Path, first: int, data: bytes, max_line: int) -> Block:
    # Whole lines (bytes ending in a line end; the last line end dropped), decoded as
    # `file_lines` decodes them: bytes that are not UTF-8 kept as surrogates, so the reader
    # names their line.
    try:
        text, plain = data.decode(), b"\x00" not in data
    except UnicodeDecodeError:
        text, plain = data.decode("utf-8", "surrogateescape"), False
    lines = text.split("\n")
    lines.pop()  # after the last line end
    longest = max(map(len, lines))
    if longest > max_line:
        at = next(at for at, line in enumerate(lines) if len(line) > max_line)
        raise _long_line(path, first + at, max_line)
    return Block(first, lines, plain and longest <= PLAIN_LONGEST)


def _long_line(path: Path, number: int, max_line: int) -> InvalidRequest:
    return refused(
        f"{path} line {number}",
        f"is longer than {max_line} bytes, the longest line an import reads",
    )


class LocalClock:
    """Reads `YYYY-MM-DD HH:MM:SS` written in one zone into epoch seconds, caching per minute.

    A local time that a change of offset repeats is read with fold=0 (the first reading)."""

    def __init__(self, timezone: str) -> None:
        try:
            self.tz = zone(timezone)
        except KeyError:
            raise SourceError("timezone", f"{timezone!r} is not an IANA time zone") from None
        self._minutes: dict[str, int] = {}

    def seconds(self, text: str) -> int:
        """Epoch seconds of a local time; ValueError says what is wrong with it."""
        base = self._minutes.get(text[:16])
        if base is None:
            base = self._minute(text)
        second = text[17:]
        if len(second) != 2 or not second.isdigit() or text[16] != ":" or second > "60":
            raise ValueError(f"{text[:40]!r} is not a time YYYY-MM-DD HH:MM:SS")
        return base + int(second)

    def _minute(self, text: str) -> int:
        # Once per minute of the file: check the date and find the zone's offset then.
        minute = text[:16]
        if len(minute) != 16 or not minute.isascii():
            raise ValueError(f"{text[:40]!r} is not a time YYYY-MM-DD HH:MM:SS")
        try:
            naive = datetime.strptime(minute, "%Y-%m-%d %H:%M")
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a time YYYY-MM-DD HH:MM:SS") from None
        try:
            base = int(naive.replace(tzinfo=self.tz).timestamp())
        except (OverflowError, ValueError):
            raise ValueError(f"{text[:40]!r} is out of range") from None
        if len(self._minutes) > 100_000:
            self._minutes.clear()
        self._minutes[minute] = base
        return base
