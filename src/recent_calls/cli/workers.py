"""API processes that share one listening socket: `recent-calls serve --workers N`.

The parent binds the socket, then forks N workers before it holds any database connection;
each worker opens its own storage (its own connection pool) and serves the inherited socket,
and the kernel spreads connections between them. Workers share nothing but the database and,
for rate limits, Redis. The parent only supervises: SIGINT or SIGTERM stops every worker; a
worker that dies stops the rest, so that a supervisor (systemd, a container runtime) sees the
failure and restarts the whole service. A worker also dies with its parent (Linux), so none is
left behind by a `kill -9` of the parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("recent_calls")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve_processes(
    count: int, sock: socket.socket, run_one: Callable[[socket.socket], None]
) -> int:
    """Run `run_one(sock)` in `count` forked workers until stopped; the exit status to use."""
    parent = os.getpid()
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            status = 0
            try:
                # Both stop the worker through its cleanup (its storage is closed): uvicorn
                # re-raises the signal after its shutdown, and this handler turns it into
                # KeyboardInterrupt rather than the default, immediate death.
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, _interrupt)
                _die_with_parent()
                if os.getppid() != parent:  # the parent died before the request above
                    os._exit(1)
                run_one(sock)
            except KeyboardInterrupt:
                status = 0
            except BaseException:
                log.exception("API worker failed")
                status = 1
            finally:
                os._exit(status)
        children.append(pid)

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        remaining = set(children)
        while remaining:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid not in remaining:
                continue
            remaining.discard(pid)
            exit_code = os.waitstatus_to_exitcode(code)
            if exit_code not in (0, -signal.SIGTERM) and status == 0:
                log.error(
                    "API worker %d stopped with status %d; stopping the others", pid, exit_code
                )
                status = 1
                stop(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
