"""A 500 is a failure everywhere: a pytest plugin (loaded by conftest.py).

The request pipeline (api/pipeline.py) logs every unhandled exception as "unhandled error" on the
`recent_calls` logger before it answers the one 500. This plugin records each such record for
the whole run. A test during which one is logged fails, even if it never looked at a status;
and the run fails at the end if any was logged at all. A test that provokes a bug on purpose
(the database closed under the app) says so with `@pytest.mark.expects_500`.
"""

from __future__ import annotations

import logging
import threading

import pytest

from recent_calls.api.logs import request_id_var

UNHANDLED = "unhandled error"
_START = pytest.StashKey[int]()


class UnhandledRecorder(logging.Handler):
    """Keeps every "unhandled error" record of the `recent_calls` logger, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.unexpected: list[str] = []
        self.allowed = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "recent_calls" and record.getMessage() == UNHANDLED:
            record.test_request_id = request_id_var.get()
            with self._lock:
                self.records.append(record)

    def since(self, start: int) -> list[logging.LogRecord]:
        with self._lock:
            return self.records[start:]


RECORDER = UnhandledRecorder()


def describe(record: logging.LogRecord) -> str:
    request_id = getattr(record, "test_request_id", None)
    error = ""
    if record.exc_info and record.exc_info[1] is not None:
        error = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return f"unhandled error (request {request_id or '?'}): {error}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "expects_500: the test provokes an unhandled error on purpose"
    )
    logging.getLogger("recent_calls").addHandler(RECORDER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_START] = len(RECORDER.records)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if call.when not in ("call", "teardown") or _START not in item.stash:
        return
    start = item.stash[_START]
    found = RECORDER.since(start)
    item.stash[_START] = start + len(found)
    if not found:
        return
    if item.get_closest_marker("expects_500") is not None:
        RECORDER.allowed += len(found)
        return
    lines = [describe(record) for record in found]
    RECORDER.unexpected.extend(f"{item.nodeid}: {line}" for line in lines)
    if report.passed:
        report.outcome = "failed"
        report.longrepr = "A 500 was answered during this test:\n" + "\n".join(lines)


def _outside_tests() -> int:
    return len(RECORDER.records) - RECORDER.allowed - len(RECORDER.unexpected)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (RECORDER.unexpected or _outside_tests() > 0) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RECORDER.unexpected or _outside_tests() > 0:
        terminalreporter.section("unhandled errors (500) during the run")
        for line in RECORDER.unexpected:
            terminalreporter.line(line)
        if _outside_tests() > 0:
            terminalreporter.line(f"{_outside_tests()} outside any test")
