"""storage/duckdb_store.py: the embedded engine's files, and what it does after a full disk.

After a full disk: the write that hit it is a 507, nothing acknowledged
is lost, and the server recovers by itself once there is room again (no restart). A WAL left
by a crash is logged on open; a corrupt one is one line of error, never a traceback.

The full disk is a small tmpfs the test mounts (root only: CI runs as root).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest
from click.testing import CliRunner

from recent_calls.api.app import create_app
from recent_calls.cli.main import main
from recent_calls.errors import DatabaseLocked, QueryTimeout
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Rows, Run
from recent_calls.storage.duckdb_store import (
    _WATCHDOG,
    REOPEN_INTERVAL_S,
    DuckDBStorage,
    _Watchdog,
)
from tests.calls import make_call, rows_of
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant, mode_of, mount_tmpfs

START = 1_710_000_000_000
BATCH = 1000
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs; the test may grow it with `mount_tmpfs(disk, size, "remount")`."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = mount_tmpfs(disk, "3m")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _batch(number: int) -> dict[str, object]:
    calls = [make_call(f"b{number}-{i}", START + i) for i in range(BATCH)]
    return {"tenantId": "acme", "calls": calls}


def test_a_full_disk_is_a_507_and_the_server_recovers_without_a_restart(
    small_disk: Path,
) -> None:
    path = str(small_disk / "calls.duckdb")
    storage = DuckDBStorage(path)
    storage.migrate()
    # A checkpoint every 256 KiB of WAL, not DuckDB's 16 MiB: the disk then fills during one,
    # the case that left the database invalid until a restart, in seconds.
    storage._cursor().execute("SET checkpoint_threshold = '256KiB'")
    credential = add_tenant(storage, "acme", "us", [])
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    http = InProcessHTTP(create_app(Settings(database=path, now=FROZEN_NOW), storage=storage))
    try:
        acknowledged = 0
        for number in range(200):
            pushed = http.post(
                "/customerexperience/v1/calls/us", json=_batch(number), headers=headers
            )
            if pushed.status_code != 200:
                break
            acknowledged += 1
        else:
            pytest.fail("the disk never filled")
        assert pushed.status_code == 507, pushed.text
        assert pushed.headers["content-type"] == "application/problem+json"
        assert "disk is full" in pushed.json()["detail"]
        assert "Retry-After" in pushed.headers
        # While it is full: answers are 200, 503 or 507, never a 500 (the test plugin checks).
        for _ in range(3):
            read = http.post("/customerexperience/v1/recentCallData/us", json=BODY, headers=headers)
            assert read.status_code in (200, 503, 507), read.text
            assert http.get("/healthz").status_code in (200, 503)
        assert mount_tmpfs(small_disk, "64m", "remount").returncode == 0
        # Room again: the same storage answers and takes writes, without a restart (a reopen
        # is tried at most once a second, so the first answer may still be a 503).
        deadline = time.monotonic() + 5 * REOPEN_INTERVAL_S
        while http.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the database was not reopened"
            time.sleep(0.1)
        read = http.post("/customerexperience/v1/recentCallData/us", json=BODY, headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["hits"] == acknowledged * BATCH  # every acknowledged call, no more
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        again = http.post("/customerexperience/v1/calls/us", json=_batch(999), headers=headers)
        assert again.status_code == 200, again.text
    finally:
        http.close()
        storage.close()
    assert os.path.exists(path)


def _crashed_with_a_wal(path: str) -> int:
    """Store calls in `path` from a process that dies without closing it; the WAL's size."""
    code = (
        "import os, sys\n"
        "from recent_calls.storage import open_storage\n"
        "from tests.calls import bound, make_call, rows_of\n"
        "store = open_storage(sys.argv[1])\n"
        "store.create_tenant('acme', 'us')\n"
        "for batch in range(5):\n"
        "    store.upsert_calls('acme', rows_of(*(make_call(f'{batch}-{i}', 1700000000000 + i)"
        " for i in range(200))))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, path], check=True, cwd=Path(__file__).parent.parent)
    return os.path.getsize(f"{path}.wal")


def test_a_corrupt_wal_at_start_is_one_line_of_error(tmp_path: Path) -> None:
    path = str(tmp_path / "calls.duckdb")
    size = _crashed_with_a_wal(path)
    with open(f"{path}.wal", "r+b") as wal:
        wal.seek(size // 2)
        wal.write(b"\xff" * 64)
    source = tmp_path / "calls.jsonl"
    source.write_bytes(b"")
    result = CliRunner().invoke(
        main, ["import", "--tenant", "acme", "--database", path, str(source)]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"{path}.wal cannot be replayed" in lines[0]
    assert "move the .wal file aside" in lines[0]


def test_a_wal_left_at_start_is_logged_with_what_a_truncated_one_loses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "calls.duckdb")
    size = _crashed_with_a_wal(path)
    with open(f"{path}.wal", "r+b") as wal:
        wal.truncate(size * 2 // 3)  # cut: some acknowledged calls are gone
    with caplog.at_level(logging.WARNING, logger="recent_calls"):
        storage = DuckDBStorage(path)
    try:
        assert storage.count_calls("acme") < 1000
    finally:
        storage.close()
    logged = [r.getMessage() for r in caplog.records if ".wal" in r.getMessage()]
    assert logged and "calls past the cut are lost" in logged[0], caplog.text


def test_the_wal_of_a_database_another_process_holds_is_not_called_a_leftover(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "calls.duckdb")
    code = (
        "import sys, time\n"
        "from recent_calls.storage import open_storage\n"
        "from tests.calls import bound, make_call, rows_of\n"
        "store = open_storage(sys.argv[1])\n"
        "store.create_tenant('acme', 'us')\n"
        "store.upsert_calls('acme', rows_of(make_call('held', 1700000000000)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, path],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        assert os.path.getsize(f"{path}.wal") > 0
        with caplog.at_level(logging.WARNING, logger="recent_calls"), pytest.raises(DatabaseLocked):
            DuckDBStorage(path)
        assert ".wal" not in caplog.text
    finally:
        holder.kill()
        holder.wait()


def test_a_full_disk_during_import_is_one_line_of_error(small_disk: Path, tmp_path: Path) -> None:
    path = str(small_disk / "calls.duckdb")
    storage = DuckDBStorage(path)
    storage.migrate()
    storage.create_tenant("acme", "us")
    storage.close()
    source = tmp_path / "calls.jsonl"  # beside the small disk, not on it
    with source.open("wb") as lines:
        for i in range(300_000):
            call = make_call(f"c{i}", START + i, callerName=f"caller {i}")
            lines.write(orjson.dumps(call) + b"\n")
    result = CliRunner().invoke(
        main, ["import", "--tenant", "acme", "--database", path, str(source)]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines_out = result.output.strip().splitlines()
    assert len(lines_out) == 1 and "is full" in lines_out[0], result.output


def test_the_duckdb_file_and_its_wal_are_created_0600(tmp_path: Path, wide_umask: None) -> None:
    path = tmp_path / "calls.duckdb"
    storage = open_storage(str(path))
    try:
        storage.create_tenant("acme", "us")
        storage.upsert_calls("acme", rows_of(make_call("c1", 1710000000000)))
        wal = Path(f"{path}.wal")
        assert mode_of(path) == 0o600
        assert wal.exists() and mode_of(wal) == 0o600
    finally:
        storage.close()


def test_an_existing_wider_duckdb_file_is_narrowed_on_open(
    tmp_path: Path, wide_umask: None
) -> None:
    path = tmp_path / "calls.duckdb"
    open_storage(str(path)).close()
    path.chmod(0o644)
    storage = open_storage(str(path))
    storage.close()
    assert mode_of(path) == 0o600


def test_the_watchdog_stops_each_read_at_its_own_deadline() -> None:
    """A read whose deadline comes after the watchdog's next wake-up is armed without waking
    it: it is still stopped at its deadline, not at a later read's or at the next idle wake."""
    watchdog = _Watchdog()
    engine = duckdb.connect()
    long_read, runaway = engine.cursor(), engine.cursor()
    kept = watchdog.arm(long_read, 60)  # the watchdog now sleeps for at most IDLE_S
    stopped_after: list[float] = []
    timing = threading.Event()

    def run() -> None:
        started = time.monotonic()
        timing.set()
        with contextlib.suppress(duckdb.InterruptException):
            runaway.execute("SELECT count(*) FROM range(100000000000) t WHERE t.range % 7 = 3")
        stopped_after.append(time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    assert timing.wait(timeout=30)  # armed after the read's clock starts, however late it runs
    ticket = watchdog.arm(runaway, _Watchdog.IDLE_S * 1.5)  # after the next wake-up
    thread.join(timeout=30)
    watchdog.disarm(ticket)
    watchdog.disarm(kept)
    assert stopped_after and _Watchdog.IDLE_S * 1.4 < stopped_after[0] < _Watchdog.IDLE_S * 3
    short = watchdog.arm(runaway, 0.2)  # before the next wake-up: it wakes the watchdog
    started = time.monotonic()
    with contextlib.suppress(duckdb.InterruptException):
        runaway.execute("SELECT count(*) FROM range(100000000000) t WHERE t.range % 7 = 3")
    watchdog.disarm(short)
    assert time.monotonic() - started < 0.2 + _Watchdog.IDLE_S / 2


def test_a_read_whose_deadline_passes_between_its_statements_is_stopped_at_the_next(
    tmp_path: Path,
) -> None:
    """An interrupt that finds the cursor between two statements of a read is lost (DuckDB
    ignores it on an idle cursor): the watchdog interrupts the read again until it ends, so
    the next statement is stopped too. Before, it ran unbounded (a flaky API test saw a 200
    where a 1 ms timeout was due)."""
    storage = DuckDBStorage(str(tmp_path / "calls.duckdb"))
    storage.set_statement_timeout(50)

    def read(run: Run) -> Rows:
        run("SELECT 1", {})
        time.sleep(0.2)  # the deadline passes here, while no statement runs
        return run("SELECT count(*) FROM range(10000000000) t WHERE t.range % 7 = 3", {})

    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        storage._read(read)
    assert time.monotonic() - started < 2  # the runaway statement alone runs for many seconds
    assert storage._read(lambda run: run("SELECT 42", {})) == [(42,)]  # no transaction left open
    storage.close()


def test_a_read_that_fails_past_its_deadline_rolls_back_out_of_the_watchdogs_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog interrupts a read past its deadline until it is disarmed; were it still
    armed at the read's rollback, an interrupt could stop that too and leave the thread's
    cursor in a transaction refusing every later read (seen: 1 read in 30 broken with
    interrupts every 0.05 ms). Every rollback of a timed read happens disarmed."""
    storage = DuckDBStorage(str(tmp_path / "calls.duckdb"))
    storage.set_statement_timeout(20)
    own_cursor = storage._cursor
    armed_at_rollback: list[bool] = []

    class Cursor:
        """The thread's cursor, noting whether the read was still armed at each ROLLBACK."""

        def __init__(self, inner: duckdb.DuckDBPyConnection) -> None:
            self.inner = inner

        def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
            if sql == "ROLLBACK":
                armed = [getattr(cursor, "inner", None) for _, cursor in _WATCHDOG._armed.values()]
                armed_at_rollback.append(any(inner is self.inner for inner in armed))
            return self.inner.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    monkeypatch.setattr(storage, "_cursor", lambda: Cursor(own_cursor()))

    def read(run: Run) -> Rows:
        run("SELECT 1", {})
        time.sleep(0.1)  # past the deadline: the watchdog now interrupts every AGAIN_S
        raise ValueError("the read failed by itself")

    with pytest.raises(ValueError, match="by itself"):
        storage._read(read)
    assert armed_at_rollback == [False]
    assert storage._read(lambda run: run("SELECT 42", {})) == [(42,)]
    storage.close()


def test_a_closed_database_is_not_opened_again_by_a_failure_after_it(tmp_path: Path) -> None:
    # A fatal error after `close` (a thread still running then, such as the server's first
    # retention pass) asked the next call to reopen the file: a storage its owner had closed
    # went on answering.
    storage = open_storage(str(tmp_path / "calls.duckdb"))
    assert isinstance(storage, DuckDBStorage)
    add_tenant(storage, "acme", "us", [])
    storage.close()
    storage._invalidate("a fatal error after close")
    with pytest.raises(duckdb.ConnectionException):
        storage.count_calls("acme")


def test_a_thread_whose_statement_outlived_close_starts_no_other(tmp_path: Path) -> None:
    # A statement running when `close` came runs to its end, and DuckDB leaves its thread's
    # cursor open: the thread's next statement ran on the closed storage. So a request served
    # by the thread of the server's first retention pass answered 200 after the storage was
    # closed under it (tests/test_logs.py, now and then under load).
    storage = open_storage(str(tmp_path / "calls.duckdb"))
    assert isinstance(storage, DuckDBStorage)
    add_tenant(storage, "acme", "us", [])
    outcomes: list[str] = []

    def long_then_another() -> None:
        try:  # about a second on 2 cores
            storage._read(lambda run: run("SELECT count(*) FROM range(10000000000)", {}))
            outcomes.append("ran through close")
        except duckdb.Error:
            outcomes.append("stopped by close")
        try:
            outcomes.append(f"then counted {storage.count_calls('acme')}")
        except duckdb.ConnectionException:
            outcomes.append("then refused")

    worker = threading.Thread(target=long_then_another)
    worker.start()
    time.sleep(0.3)  # the statement is running
    storage.close()
    worker.join()
    assert outcomes[-1] == "then refused", outcomes
