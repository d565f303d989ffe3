"""`recent-calls serve` as a process: how it stops."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from recent_calls import launch
from recent_calls.control import control_path

from .support import ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_removes_the_control_file_and_closes_storage(
    tmp_path: Path, sig: signal.Signals
) -> None:
    database = str(tmp_path / "calls.duckdb")
    log = tmp_path / "server.log"
    args = ["--demo", "--demo-calls", "50"]
    server = launch.ServerProcess(
        database, log, {"RECENT_CALLS_NOW": "1764547200000"}, args
    ).start()
    assert server.process is not None
    try:
        assert control_path(database).exists()
        server.process.send_signal(sig)
        code = server.process.wait(timeout=30)
    finally:
        server.stop()
    assert code == 0, log.read_text()[-2000:]
    assert not control_path(database).exists()
    # A closed DuckDB checkpoints its write-ahead log into the file and removes it.
    assert not Path(f"{database}.wal").exists()
    assert "Traceback" not in log.read_text()


def test_the_signal_ends_the_process_promptly(tmp_path: Path) -> None:
    database = str(tmp_path / "calls.duckdb")
    with ServerProcess(database, tmp_path / "server.log") as server:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM did not stop the server within 15 s")
