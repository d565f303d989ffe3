"""`recent-calls follow`: a real follower process over a queue_log that Asterisk (this test)
appends to, rotates by rename and by copytruncate, and that is SIGKILLed and restarted."""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.cli.follow import Positions
from recent_calls.demo import generate_calls
from recent_calls.demo.telephony import write_asterisk
from recent_calls.ingest.asterisk import read_asterisk
from recent_calls.ingest.follow import AsteriskFollower, Position, TailedFile, merged
from recent_calls.ingest.sources import LocalClock, numbered
from recent_calls.storage import open_storage
from tests.support import FROZEN_NOW, LOOPBACK, run_capped, serve_demo
from tests.test_telephony import cli, expected_rows, stored_rows

ZONE = "America/New_York"


def queue_log_lines(calls: int) -> list[str]:
    out = io.StringIO()
    generated = generate_calls("acme", calls, seed=5, end_ms=int(FROZEN_NOW), days=1, timezone=ZONE)
    write_asterisk(generated, out, None, timezone=ZONE)
    return out.getvalue().splitlines(keepends=True)


def finished(lines: list[str]) -> dict[str, tuple[Any, ...]]:
    """What an import of these lines stores: the calls they finish."""
    return expected_rows(list(read_asterisk(numbered("".join(lines)), server="pbx1")))


class Asterisk:
    """Appends to queue_log as Asterisk does: one handle, kept until `logger reload`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("a")

    def write(self, lines: list[str]) -> None:
        for line in lines:
            self.handle.write(line)
            self.handle.flush()

    def reload(self) -> None:
        self.handle.close()
        self.handle = self.path.open("a")


@contextmanager
def following(
    database: str, queue_log: Path, log: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "recent_calls", "follow", "--tenant", "acme", *extra]
    command += ["--server", "pbx1", "--interval", "0.05", "--database", database, str(queue_log)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


Count = Callable[[], int]
Spans = dict[str, tuple[int, int]]  # callId -> (callDuration, timeInIVR), in ms


class Stored:
    """The tenant's calls as a follower stores them, read while it runs: how many (calling it),
    and each one's duration and time in the IVR (`spans`), which its Master.csv rows change
    when the call is stored again, joined, without changing the count."""

    def __init__(self, count: Count, spans: Callable[[], Spans]) -> None:
        self.count, self.spans = count, spans

    def __call__(self) -> int:
        return self.count()


def spans_of(rows: dict[str, tuple[Any, ...]]) -> Spans:
    # ROW_COLUMNS: call_id, start_ms, call_duration, agent_handling, time_in_ivr, ...
    return {call_id: (int(row[2]), int(row[4])) for call_id, row in rows.items()}


def wait_until_joined(stored: Stored, expected: Spans, log: Path, seconds: float = 60) -> None:
    """Wait for every call's joined duration and IVR time: a follower stores a call at its
    final queue_log line and again once its Master.csv rows are read, perhaps a poll later."""
    deadline = time.monotonic() + seconds
    while (found := stored.spans()) != expected:
        if time.monotonic() > deadline:
            differ = sorted(
                k for k in expected.keys() | found.keys() if found.get(k) != expected.get(k)
            )
            raise AssertionError(f"not joined: {differ[:5]}:\n{log.read_text()}")
        time.sleep(0.1)


def wait_for(count: Count, target: int, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if count() == target:
            time.sleep(0.3)  # and no more than that: a duplicate would show here
            assert count() == target
            return
        time.sleep(0.05)
    raise AssertionError(f"{count()} calls stored, not {target}:\n{log.read_text()}")


@contextmanager
def counted(database: str, engine: str) -> Iterator[Stored]:
    """The tenant made, and its calls (`Stored`), read while the follower runs."""
    if engine == "duckdb":  # the embedded database is held by a server: everything goes through it
        with serve_demo(database, False) as served:
            created = cli(
                "tenant", "create", "acme", "--region", "us", "--json", "--database", database
            )
            issued = json.loads(created.stdout)
            headers = {"8x8-apikey": issued["apiKey"], "token": issued["token"]}
            body = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}
            url = f"{served.url}/customerexperience/v1/recentCallData/us"

            def answered(rows: int) -> dict[str, Any]:
                found = LOOPBACK.post(url, json={**body, "rows": rows}, headers=headers)
                return dict(found.json())

            def spans() -> Spans:
                return {
                    item["callId"]: (int(item["callDuration"]), int(float(item["timeInIVR"])))
                    for item in answered(5000)["data"]
                }

            yield Stored(lambda: int(answered(1)["hits"]), spans)
        return
    created = cli("tenant", "create", "acme", "--region", "us", "--database", database)
    assert created.exit_code == 0, created.output
    storage = open_storage(database)
    try:
        yield Stored(
            lambda: storage.count_calls("acme"), lambda: spans_of(stored_rows(database, "acme"))
        )
    finally:
        storage.close()


def test_follow_survives_rotation_both_ways_and_a_sigkill(
    database: str, engine: str, tmp_path: Path
) -> None:
    lines = queue_log_lines(300)
    parts = [lines[i * len(lines) // 6 : (i + 1) * len(lines) // 6] for i in range(6)]
    queue_log, out = tmp_path / "queue_log", tmp_path / "follow.log"
    asterisk = Asterisk(queue_log)
    done: list[str] = []

    def write(part: list[str]) -> None:
        asterisk.write(part)
        done.extend(part)

    with ExitStack() as stack:
        count = stack.enter_context(counted(database, engine))
        follower = stack.enter_context(following(database, queue_log, out))
        write(parts[0])
        wait_for(count, len(finished(done)), out)

        # logrotate by rename: Asterisk writes on to the renamed file until its reload.
        os.rename(queue_log, tmp_path / "queue_log.1")
        write(parts[1])
        asterisk.reload()
        write(parts[2][: len(parts[2]) // 2])
        wait_for(count, len(finished(done)), out)

        # SIGKILL in the middle of a burst; Asterisk writes on while nobody follows.
        write(parts[2][len(parts[2]) // 2 :])
        follower.send_signal(signal.SIGKILL)
        follower.wait()
        write(parts[3])
        follower = stack.enter_context(following(database, queue_log, out))
        wait_for(count, len(finished(done)), out)

        # logrotate's copytruncate, right after a write the follower may not have read yet.
        write(parts[4])
        shutil.copyfile(queue_log, tmp_path / "queue_log.1")
        os.truncate(queue_log, 0)
        write(parts[5])
        wait_for(count, len(finished(done)), out)
    assert "rotations" in out.read_text()
    assert len(finished(done)) > 200  # the queued calls of 300 (the rest are in Master.csv)
    assert stored_rows(database, "acme") == finished(done)


def test_a_stopped_follower_resumes_from_its_saved_position(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("1|a|q|NONE|ENTERQUEUE||1|1\n2|a|q|NONE|ABANDON|1|1|1\n3|b|q|NONE|ENTERQU")
    tailed = TailedFile(path, Position())
    assert [(n, o) for n, _, o, _ in tailed.read()] == [(1, 0), (2, 27)]
    saved = tailed.position(None, deque())
    assert (saved.offset, saved.line) == (52, 3) and saved.fingerprint
    tailed.close()
    with path.open("a") as more:
        more.write("EUE||2|1\n")
    again = TailedFile(path, saved)
    assert [(n, t) for n, _, _, t in again.read()] == [(3, "3|b|q|NONE|ENTERQUEUE||2|1\n")]
    again.close()
    # Rotated by rename while stopped: the rest of PATH.1 first, then the new file.
    path.rename(tmp_path / "queue_log.1")
    path.write_text("9|z|q|NONE|ENTERQUEUE||1|1\n")
    rotated = TailedFile(path, saved)
    assert [t[0] for _, _, _, t in rotated.read()] == ["3", "9"]
    rotated.close()
    # Another file at the path, and its old one gone: read the path's from its start.
    (tmp_path / "queue_log.1").unlink()
    path.write_text("8|z|q|NONE|ENTERQUEUE||1|1\n" * 3)
    other = TailedFile(path, saved)
    assert [n for n, _, _, _ in other.read()] == [1, 2, 3]
    other.close()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_follow_names_an_unknown_tenant(database: str, tmp_path: Path) -> None:
    (tmp_path / "queue_log").write_text("")
    result = cli(
        "follow", "--tenant", "nobody", "--database", database, str(tmp_path / "queue_log")
    )
    assert result.exit_code == 1 and "nobody" in result.output


def test_a_line_that_never_ends_stops_the_follower_by_name_within_bounded_memory(
    database: str,
) -> None:
    created = cli("tenant", "create", "acme", "--region", "us", "--database", database)
    assert created.exit_code == 0, created.output
    result = run_capped(["follow", "--tenant", "acme", "--database", database, "/dev/zero"])
    assert result.returncode == 1, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: /dev/zero line 1 is longer than 1048576 bytes, the longest line an import "
        "reads: is it a queue_log?"
    ]


@pytest.mark.embedded_only
def test_a_master_csv_that_never_ends_stops_the_follower_by_name(
    database: str, tmp_path: Path
) -> None:
    created = cli("tenant", "create", "acme", "--region", "us", "--database", database)
    assert created.exit_code == 0, created.output
    (tmp_path / "queue_log").write_text("")
    command = ["follow", "--tenant", "acme", "--database", database, "--cdr", "/dev/zero"]
    result = run_capped([*command, str(tmp_path / "queue_log")])
    assert result.returncode == 1, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: /dev/zero line 1 is longer than 1048576 bytes, the longest line an import "
        "reads: is it a Master.csv?"
    ]


# -- Master.csv followed beside the queue_log -------------------------------------------------


def asterisk_timeline(calls: int, seed: int = 5) -> tuple[list[tuple[bool, str]], list[Any]]:
    """The demo's calls as Asterisk writes them live: queue_log lines, and each call's Master.csv
    rows at its hangup (after its last queue_log line), in one order; (is it a row, text). And
    what an import of the whole files stores."""
    log, master = io.StringIO(), io.StringIO()
    generated = generate_calls(
        "acme", calls, seed=seed, end_ms=int(FROZEN_NOW), days=1, timezone=ZONE
    )
    write_asterisk(generated, log, master, timezone=ZONE)
    clock = LocalClock(ZONE)
    lines = log.getvalue().splitlines(keepends=True)
    rows = master.getvalue().splitlines(keepends=True)
    timed = [(int(text.split("|", 1)[0]), 0, i, False, text) for i, text in enumerate(lines)]
    for i, text in enumerate(rows):
        row = next(csv.reader([text]))
        timed.append((clock.seconds(row[11] or row[9]), 1, i, True, text))
    timeline = [(is_row, text) for *_, is_row, text in sorted(timed)]
    imported = list(
        read_asterisk(
            numbered("".join(lines)), server="pbx1", cdr=numbered("".join(rows)), timezone=ZONE
        )
    )
    return timeline, imported


class Killed(Exception):
    pass


class Followed:
    """An in-process follower of two files, its positions kept as `recent-calls follow` keeps
    them (`Positions`: watermarks, each written on its own) in a dict, every store recorded;
    `kill` drops it as a SIGKILL would (nothing closed, nothing more written)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.queue_log, self.master = folder / "queue_log", folder / "Master.csv"
        self.queue_log.touch()
        self.master.touch()
        self.watermarks: dict[str, int] = {}
        self.positions = Positions(self, "acme")
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.writes_left: int | None = None
        self.follower = self.start()

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        return self.watermarks.get(source)

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        if self.writes_left is not None:
            if self.writes_left == 0:
                raise Killed("between two writes")
            self.writes_left -= 1
        self.watermarks[source] = watermark_ms

    def store(self, calls: list[dict[str, Any]]) -> None:
        for call in calls:
            self.versions.setdefault(call["callId"], []).append(call)

    def start(self) -> AsteriskFollower:
        return AsteriskFollower(
            self.queue_log,
            server="pbx1",
            store=self.store,
            load=self.positions.load,
            save=self.positions.save,
            cdr=self.master,
            timezone=ZONE,
        )

    def write(self, timeline: list[tuple[bool, str]]) -> None:
        # Each line reaches its file in the timeline's order, as Asterisk writes them (a line
        # per event, a Master.csv row at hangup). Block-buffered, Master.csv lagged the
        # queue_log by up to 8 KiB while the burst was written: a follower polling in between
        # read the queue_log an hour of log time ahead of Master.csv, and stored calls whose
        # rows came too late to be joined.
        with (
            self.queue_log.open("a", buffering=1) as log,
            self.master.open("a", buffering=1) as master,
        ):
            for is_row, text in timeline:
                (master if is_row else log).write(text)

    def kill(self, after_writes: int | None = None) -> bool:
        """Stop it dead (in its next poll, after `after_writes` watermark writes), then start
        anew; whether that poll was stopped before its end."""
        killed = False
        if after_writes is not None:
            self.writes_left = after_writes
            try:
                self.follower.poll()
            except Killed:
                killed = True
            self.writes_left = None
        self.follower = self.start()
        return killed

    def latest(self) -> dict[str, dict[str, Any]]:
        return {call_id: versions[-1] for call_id, versions in self.versions.items()}

    def check(self, imported: list[dict[str, Any]]) -> None:
        """What it stored last of each call is what the import stores; a call that reached a
        queue was never stored as one that did not."""
        assert self.latest() == {call["callId"]: call for call in imported}
        queued = {c["callId"] for c in imported if c["callSubType"] == "Queued"}
        for call_id in queued:
            subtypes = {version["callSubType"] for version in self.versions[call_id]}
            assert subtypes == {"Queued"}, (call_id, self.versions[call_id])


def test_a_follower_of_master_csv_stores_what_the_import_stores_live(tmp_path: Path) -> None:
    timeline, imported = asterisk_timeline(200)
    followed = Followed(tmp_path)
    for start in range(0, len(timeline), 37):
        followed.write(timeline[start : start + 37])
        followed.follower.poll()
    followed.follower.poll()
    assert sum(c["callSubType"] == "No Queue" for c in imported) > 20
    assert sum(c["timeInIVR"] > 0 for c in imported if c["callSubType"] == "Queued") > 20
    followed.check(imported)


def test_a_follower_catching_up_on_both_files_joins_every_call(tmp_path: Path) -> None:
    """All written before it starts: the queue_log read whole would run hours ahead of
    Master.csv and let its calls go before their rows came."""
    timeline, imported = asterisk_timeline(300, seed=8)
    followed = Followed(tmp_path)
    followed.write(timeline)
    followed.follower.poll()
    followed.check(imported)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_follower_of_master_csv_killed_anywhere_resumes_exactly(
    tmp_path: Path, seed: int
) -> None:
    timeline, imported = asterisk_timeline(150, seed=seed)
    draw = random.Random(seed)
    followed = Followed(tmp_path)
    at = 0
    while at < len(timeline):
        step = draw.randint(1, 120)
        followed.write(timeline[at : at + step])
        at += step
        followed.follower.poll()
        if draw.random() < 0.3:
            # Killed: between its saves, or between polls; the files grow meanwhile.
            more = draw.randint(0, 60)
            followed.write(timeline[at : at + more])
            at += more
            followed.kill(after_writes=draw.choice([None, *range(10)]))
    followed.follower.poll()
    followed.check(imported)


@pytest.mark.parametrize("killed_in", [1, 2])
def test_a_follower_of_master_csv_killed_at_each_write_of_its_positions_resumes_exactly(
    tmp_path: Path, killed_in: int
) -> None:
    """SIGKILLed in its first or second poll after each of the watermark writes that save its
    positions (each its own transaction), then restarted on the rest: it stores each call as
    the import does. Positions of the two files saved apart, a kill between them resumed
    Master.csv past rows that the queue_log read again needed, and left calls unjoined."""
    timeline, imported = asterisk_timeline(120, seed=9)
    ends = [len(timeline) * (i + 1) // (killed_in + 1) for i in range(killed_in)]
    writes, killed = 0, True
    while killed:
        followed = Followed(tmp_path / str(writes))
        followed.write(timeline[: ends[0]])
        for start, end in itertools.pairwise(ends):
            followed.follower.poll()
            followed.write(timeline[start:end])
        killed = followed.kill(after_writes=writes)
        followed.write(timeline[ends[-1] :])
        followed.follower.poll()
        followed.check(imported)
        writes += 1
    assert writes > 6  # both files' positions, each in more than one write


@pytest.mark.parametrize("planted", [7, -1, 1 << 40])
def test_a_follower_whose_saved_slot_is_not_one_it_writes_resumes_from_its_own_keys(
    tmp_path: Path, planted: int
) -> None:
    """The slot is a watermark like any other, which the admin API can set: a value the
    follower never writes (not 0 or 1) is read as 0, and it still stores each call as the
    import does."""
    timeline, imported = asterisk_timeline(60, seed=4)
    half = len(timeline) // 2
    followed = Followed(tmp_path)
    followed.write(timeline[:half])
    followed.follower.poll()
    slot = followed.follower.cdr_key + "#slot"
    followed.watermarks[slot] = planted
    followed.kill()
    followed.write(timeline[half:])
    followed.follower.poll()
    followed.check(imported)
    assert followed.watermarks[slot] == 1  # the next poll's positions, in slot 1


def timeline_times(timeline: list[tuple[bool, str]]) -> list[int]:
    """Each entry's log time (epoch s): a queue_log line's own, a Master.csv row's end."""
    clock = LocalClock(ZONE)
    times = []
    for is_row, text in timeline:
        if is_row:
            row = next(csv.reader([text]))
            times.append(clock.seconds(row[11] or row[9]))
        else:
            times.append(int(text.split("|", 1)[0]))
    return times


@pytest.mark.parametrize(("seed", "span"), [(9, 60), (10, 60), (9, 1800)])
def test_a_follower_whose_files_grow_between_its_reads_joins_every_call(
    tmp_path: Path, seed: int, span: int
) -> None:
    """Asterisk writes on while the follower reads: after each read of either file, what it
    logs in the next `span` seconds lands in both. A row read before its call's queue_log
    lines would be stored as a call that never reached a queue."""
    timeline, imported = asterisk_timeline(120, seed=seed)
    times = timeline_times(timeline)
    followed = Followed(tmp_path)
    written = 0

    def writes_on(read: Callable[[], list[Any]]) -> Callable[[], list[Any]]:
        def read_then_write() -> list[Any]:
            nonlocal written
            lines = read()
            if written < len(timeline):
                until = bisect.bisect_right(times, times[written] + span)
                followed.write(timeline[written:until])
                written = until
            return lines

        return read_then_write

    follower = followed.follower
    assert follower.cdr is not None
    follower.log.read = writes_on(follower.log.read)  # type: ignore[method-assign]
    follower.cdr.read = writes_on(follower.cdr.read)  # type: ignore[method-assign]
    polls = 0
    while written < len(timeline):
        follower.poll()
        polls += 1
    follower.poll()
    follower.poll()
    assert polls > 10  # the calls came a few at a time, not in one read
    followed.check(imported)


def test_follow_cdr_stores_the_joined_calls_and_those_without_a_queue(
    database: str, engine: str, tmp_path: Path
) -> None:
    timeline, imported = asterisk_timeline(120, seed=9)
    half = len(timeline) // 2
    files = Followed(tmp_path)  # only its files: the follower here is the command
    out = tmp_path / "follow.log"
    extra = ("--cdr", str(files.master), "--timezone", ZONE)
    with ExitStack() as stack:
        count = stack.enter_context(counted(database, engine))
        # Each half is written whole before a follower reads it. Written while it polls, hours
        # of this timeline's log time would pass in a few ms between two of its reads, more
        # than the hour it holds a call for its late rows (Asterisk takes hours to write
        # them); test_a_follower_whose_files_grow_between_its_reads_joins_every_call writes
        # at a pace Asterisk can.
        files.write(timeline[:half])
        follower = stack.enter_context(following(database, files.queue_log, out, *extra))
        time.sleep(0.5)
        follower.send_signal(signal.SIGKILL)
        follower.wait()
        files.write(timeline[half:])
        stack.enter_context(following(database, files.queue_log, out, *extra))
        wait_for(count, len(imported), out)
        wait_until_joined(count, spans_of(expected_rows(imported)), out)
    assert "and " + str(files.master) in out.read_text()
    assert stored_rows(database, "acme") == expected_rows(imported)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=60).map(lambda t: t + "\n")),
    st.lists(st.text(max_size=60).map(lambda t: t + "\n")),
)
def test_any_lines_merge_in_each_files_own_order(log: list[str], rows: list[str]) -> None:
    """Whatever the files hold (no time, NULs, surrogates, broken quotes): no error, and each
    file's lines come out whole and in its own order."""
    reads = [[(n, 0, 0, text) for n, text in enumerate(texts, 1)] for texts in (log, rows)]
    out = list(merged(reads[0], reads[1], LocalClock("UTC")))
    assert [read for is_row, read in out if not is_row] == reads[0]
    assert [read for is_row, read in out if is_row] == reads[1]
