"""Nothing on disk or on screen leaks (issue 12, defects 7, 8, 9) and a slow head is cut (13)."""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest

from recent_calls.admin.control import Control, control_path, read_control, write_control
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import make_call, rows_of
from tests.support import FROZEN_NOW, serve_demo, serving

CONTROL = Control("http://127.0.0.1:1", "the-admin-token", os.getpid())


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """A umask that lets everyone read new files, as on many machines."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# -- defect 7: the control file --------------------------------------------------------------


def test_a_symlink_at_the_control_path_is_replaced_not_followed(tmp_path: Path) -> None:
    database = str(tmp_path / "calls.duckdb")
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    control_path(database).symlink_to(target)
    write_control(database, CONTROL)
    assert target.read_text() == "precious"
    path = control_path(database)
    assert not path.is_symlink() and mode_of(path) == 0o600
    assert read_control(database) == CONTROL


def test_a_stale_control_file_of_any_mode_is_replaced_with_a_0600_one(
    tmp_path: Path, wide_umask: None
) -> None:
    database = str(tmp_path / "calls.duckdb")
    path = control_path(database)
    path.write_text('{"url": "old", "adminToken": "old", "pid": 1}')
    path.chmod(0o644)
    write_control(database, CONTROL)
    assert mode_of(path) == 0o600
    assert orjson.loads(path.read_bytes())["adminToken"] == "the-admin-token"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_a_control_file_others_may_read_or_a_symlink_is_not_trusted(tmp_path: Path) -> None:
    database = str(tmp_path / "calls.duckdb")
    write_control(database, CONTROL)
    path = control_path(database)
    path.chmod(0o644)
    assert read_control(database) is None
    path.chmod(0o600)
    assert read_control(database) == CONTROL
    elsewhere = tmp_path / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert read_control(database) is None


# -- defect 8: the DuckDB file and its WAL ----------------------------------------------------


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


# -- defect 9: the password of a PostgreSQL URL ------------------------------------------------


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_serve_never_prints_the_databases_password(engine: str, database: str) -> None:
    if engine == "duckdb":
        database = str(Path(database).with_name("plain.duckdb"))
        secret = None
    else:
        secret = "Sup3rSecretPassw0rd"  # the test server trusts the user, so it connects
        database = _with_password(database, secret)
    with serve_demo(database, demo=False) as served:
        printed = "\n".join(served.banner)
        assert served.banner[0].startswith("recent-calls serving ")
        if secret is not None:
            assert secret not in printed and ":***@" in printed


# -- defect 13: a slow request head, and framing errors ---------------------------------------


@pytest.fixture
def slow_head_url(storage: Storage, database: str) -> Iterator[str]:
    with serving(Settings(database=database, now=FROZEN_NOW), storage, head_timeout_s=1.0) as url:
        yield url


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_connection_sending_a_partial_head_is_closed_within_the_bound(
    slow_head_url: str,
) -> None:
    with _connect(slow_head_url) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /customerexperience/v1/recentCallData/us HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.4)
        sock.sendall(b"X-Slow: 1\r\n")  # a byte now and then must not keep it open
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in head
    assert orjson.loads(body)["status"] == 408


def test_an_idle_connection_is_closed_too_and_a_prompt_one_is_served(slow_head_url: str) -> None:
    with _connect(slow_head_url) as sock:
        started = time.monotonic()
        assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 3.0
    with _connect(slow_head_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_framing_error_is_answered_with_a_problem_document(slow_head_url: str) -> None:
    with _connect(slow_head_url) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in head
    assert orjson.loads(body)["status"] == 400
