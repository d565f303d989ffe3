"""The Asterisk import's read with the queue_log in a process of its own: the same calls, in the
same order, with the same report, as `read_asterisk` reads in one process; and its failures."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.errors import InvalidRequest
from recent_calls.ingest.asterisk import FEED_LINES, read_asterisk
from recent_calls.ingest.asterisk_parallel import read_asterisk_parallel
from recent_calls.ingest.bulk import CallBatch
from recent_calls.ingest.sources import SourceError, SourceReport, file_lines
from tests.test_asterisk import CALL, ID, QUEUE_LOG_LIKE, T, cdr_row, logs, q

MAX_LINE = 4096


def write(folder: Path, lines: list[str], rows: list[str] | None) -> tuple[Path, Path | None]:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "queue_log"
    # Lone surrogates are written as the bytes a broken encoder writes: not UTF-8.
    log.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8", "surrogatepass"))
    if rows is None:
        return log, None
    cdr = folder / "Master.csv"
    cdr.write_bytes("".join(f"{row}\n" for row in rows).encode("utf-8", "surrogatepass"))
    return log, cdr


def serial(log: Path, cdr: Path | None, **options: Any) -> tuple[list[Any], SourceReport]:
    report = SourceReport()
    calls = read_asterisk(
        file_lines(log, MAX_LINE),
        server=options.get("server", "pbx1"),
        cdr=None if cdr is None else file_lines(cdr, MAX_LINE),
        timezone=options.get("timezone", "UTC"),
        report=report,
        typed=True,
    )
    return list(calls), report


def parallel(log: Path, cdr: Path | None, **options: Any) -> tuple[list[Any], SourceReport]:
    report = SourceReport()
    calls = []
    for batch in read_asterisk_parallel(
        log,
        server=options.get("server", "pbx1"),
        cdr=cdr,
        timezone=options.get("timezone", "UTC"),
        cdr_name="Master.csv",
        report=report,
        max_line=MAX_LINE,
        message_calls=options.get("message_calls", 2),
    ):
        calls += batch.made() if isinstance(batch, CallBatch) else batch
    return calls, report


def same_read(folder: Path, lines: list[str], rows: list[str] | None, **options: Any) -> None:
    log, cdr = write(folder, lines, rows)
    expected = serial(log, cdr, **options)
    assert parallel(log, cdr, **options) == expected
    assert parallel(log, cdr, **options, message_calls=10_000) == expected


LEG = (
    '"","5551234","PJSIP/7","from-queue","5551234","Local/7@from-queue-01;1","PJSIP/7-02",'
    '"Dial","","2023-11-14 22:13:25","2023-11-14 22:13:50","2023-11-14 22:15:10","105","80",'
    f'"ANSWERED","DOCUMENTATION","{T}.99","","","{ID}","2"'
)


def test_a_log_with_every_kind_of_call_reads_the_same(tmp_path: Path) -> None:
    """Calls joined with their rows (a leg's too), a call that re-enters a queue after it has
    settled (the same callId twice: only the first takes the rows), one left open, rows of
    calls that never reached a queue, bad lines and rows, unknown events."""
    later = T + 7200
    first = [
        *CALL,
        f"{T + 4000}|{T}.40|sales|NONE|ENTERQUEUE||5554000|1",  # the first call settles
        f"{T + 4009}|{T}.40|sales|NONE|ABANDON|1|1|9",
    ]
    # Agent events up to the end of the reader's first feed, so that the call has settled
    # (been returned and forgotten) before it continues.
    filler = [f"{T + 4010}|NONE|sales|PJSIP/7|PAUSE|lunch"] * (FEED_LINES - len(first))
    lines = [
        *first,
        *filler,
        f"{later}|{ID}|sales|NONE|ENTERQUEUE||5551234|1",
        f"{later + 30}|{ID}|sales|NONE|ABANDON|1|1|30",
        f"{later + 40}|{T}.50|sales|NONE|ENTERQUEUE||5550000|1",  # left open
        f"{later + 41}|{T}.51|sales|NONE|SOMETHINGNEW|x",
        "not a queue_log line",
        *(f"{T + n}|{T}.{n}|q|NONE|ENTERQUEUE||555{n}|1" for n in range(60, 70)),
        *(f"{T + n + 9}|{T}.{n}|q|NONE|ABANDON|1|1|9" for n in range(60, 70)),
    ]
    rows = [
        cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID, "", "", ID, "1"),
        LEG,
        cdr_row("2023-11-14 22:40:00", "2023-11-14 22:41:00", f"{T}.50"),
        cdr_row("2023-11-14 23:00:00", "2023-11-14 23:01:00", "1.5", app="Dial"),
        cdr_row("2023-11-14 23:02:00", "2023-11-14 23:01:00", "1.6"),  # ends before it starts
        cdr_row("2023-11-14 23:03:00", "2023-11-14 23:04:00", "1.7", app="Playback"),
    ]
    log, cdr = write(tmp_path, lines, rows)
    calls, report = serial(log, cdr)
    assert [call[0] for call in calls].count(f"pbx1:{ID}") == 2
    assert len(calls) == 15 and report.open_calls == 1 and report.invalid == 2
    assert report.unknown_events == 1
    same_read(tmp_path / "again", lines, rows)
    same_read(tmp_path / "no-cdr", lines, None)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(logs(), st.lists(st.integers(0, 8), max_size=8), st.integers(1, 4))
def test_random_logs_read_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    rows_of: list[int],
    message_calls: int,
) -> None:
    """Interleaved, shuffled and truncated calls with Master.csv rows for some of them (and for
    calls that are not in the log): the same calls, order and report."""
    rows = [
        cdr_row(f"2023-11-14 22:{10 + n:02}:00", f"2023-11-14 22:{20 + n:02}:00", f"{T}.{n}")
        for n in rows_of
    ]
    folder = tmp_path_factory.mktemp("random")
    log, cdr = write(folder, lines, rows)
    expected = serial(log, cdr, timezone="America/New_York")
    got = parallel(log, cdr, timezone="America/New_York", message_calls=message_calls)
    assert got == expected


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.text(max_size=80) | st.from_regex(QUEUE_LOG_LIKE, fullmatch=True), max_size=30),
    st.lists(st.text(max_size=200), max_size=5),
)
def test_any_text_is_read_the_same(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], rows: list[str]
) -> None:
    """Whatever the files hold (any Unicode, bytes that are not UTF-8, stray separators and
    line breaks), the same calls and the same named errors."""
    log, cdr = write(tmp_path_factory.mktemp("any"), lines, rows)
    assert parallel(log, cdr, message_calls=1) == serial(log, cdr)


def refusal(read: Any, *args: Any, **options: Any) -> str:
    with pytest.raises((InvalidRequest, SourceError)) as raised:
        read(*args, **options)
    return str(raised.value)


@pytest.mark.parametrize(
    ("change", "options"),
    [
        ("long queue_log line", {}),
        ("long Master.csv line", {}),
        ("queue_log is a folder", {}),
        ("Master.csv is missing", {}),
        ("no server", {"server": " "}),
        ("unknown zone", {"timezone": "Mars/Olympus"}),
    ],
)
def test_what_cannot_be_read_is_refused_as_in_one_process(
    tmp_path: Path, change: str, options: dict[str, Any]
) -> None:
    log, cdr = write(tmp_path, CALL, [cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID)])
    assert cdr is not None
    if change == "long queue_log line":
        log.write_text(q(1, "ENTERQUEUE", "x" * MAX_LINE) + "\n")
    elif change == "long Master.csv line":
        cdr.write_text("x" * (MAX_LINE + 1))
    elif change == "queue_log is a folder":
        log.unlink()
        log.mkdir()
    elif change == "Master.csv is missing":
        cdr.unlink()
    expected = refusal(serial, log, cdr, **options)
    assert refusal(parallel, log, cdr, **options) == expected
    assert multiprocessing.active_children() == []


def many_calls(folder: Path, count: int) -> Path:
    """A queue_log of `count` abandoned calls: more than the pipe to the reader holds."""
    lines = [f"{T + n}|{T}.{n}|q|NONE|ENTERQUEUE||1|1" for n in range(count)]
    lines += [f"{T + count + n}|{T}.{n}|q|NONE|ABANDON|1|1|9" for n in range(count)]
    log, _ = write(folder, lines, None)
    return log


def reading(log: Path) -> Any:
    return read_asterisk_parallel(
        log,
        server="pbx1",
        cdr=None,
        timezone="UTC",
        cdr_name="Master.csv",
        report=SourceReport(),
        max_line=MAX_LINE,
        message_calls=100,
    )


def test_a_reader_process_killed_midway_is_named_and_nothing_is_left_running(
    tmp_path: Path,
) -> None:
    batches = reading(many_calls(tmp_path, 30_000))
    next(batches)
    [reader] = multiprocessing.active_children()
    assert reader.pid is not None
    os.kill(reader.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="reader process ended without a word"):
        for _ in batches:
            pass
    assert multiprocessing.active_children() == []


def test_a_read_given_up_midway_ends_its_reader_process(tmp_path: Path) -> None:
    batches = reading(many_calls(tmp_path, 30_000))
    next(batches)
    assert len(multiprocessing.active_children()) == 1
    batches.close()
    assert multiprocessing.active_children() == []
