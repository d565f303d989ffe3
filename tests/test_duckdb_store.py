"""The embedded engine after a full disk: the write that hit it is a 507, nothing acknowledged
is lost, and the server recovers by itself once there is room again (no restart).

The database lives on a small tmpfs the test mounts (root only: CI runs as root).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recent_calls.app import create_app
from recent_calls.settings import Settings
from recent_calls.storage.duckdb_store import REOPEN_INTERVAL_S, DuckDBStorage
from tests.calls import make_call
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant

START = 1_710_000_000_000
BATCH = 1000
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


def _mount(where: Path, size: str, *options: str) -> subprocess.CompletedProcess[str]:
    opts = ",".join((*options, f"size={size}"))
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs; the test may grow it with `_mount(disk, size, "remount")`."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount(disk, "3m")
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
        assert _mount(small_disk, "64m", "remount").returncode == 0
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
