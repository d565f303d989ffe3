"""`recent-calls serve` in a child process, for scripts, benchmarks and end-to-end tests.

    with ServerProcess("calls.duckdb", env={"RECENT_CALLS_RATE_LIMIT_PER_S": "0"}) as server:
        print(httpx.get(f"{server.url}/healthz").json())

The server picks a free loopback port and prints it; `start` returns once /healthz answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx


def wait_healthy(url: str, seconds: float = 60) -> None:
    """Wait until the server at `url` answers /healthz with 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer /healthz within {seconds} s")


def stop(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Interrupt a server process (a clean shutdown); kill it if it does not end in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServerProcess:
    """`recent-calls serve --port 0` on `database` in a child process; its standard error is
    appended to `log_path` (or dropped); `env` is laid over this process's environment."""

    def __init__(
        self,
        database: str,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.log_path = log_path
        self.env = dict(env or {})
        self.args = tuple(args)
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._log: IO[str] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server; return once it answers /healthz."""
        command = [sys.executable, "-m", "recent_calls", "serve", "--port", "0"]
        self._log = open(self.log_path or os.devnull, "a")  # noqa: SIM115 - closed in _close
        self.process = subprocess.Popen(
            [*command, "--database", self.database, *self.args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **self.env},
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("Listening on "):
                self.url = line.split()[-1]
                break
        if not self.url:
            self.stop()
            shown = self.log_path.read_text()[-2000:] if self.log_path else "(no log kept)"
            raise RuntimeError(f"the server did not start: {shown}")
        wait_healthy(self.url, timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        assert self.process is not None, "the server is not started"
        self.process.kill()
        self.process.wait(timeout=30)
        self._close()

    def stop(self, timeout: float = 30) -> None:
        """A clean shutdown (SIGINT), a kill if it takes longer than `timeout` seconds."""
        if self.process is not None:
            stop(self.process, timeout)
        self._close()

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
