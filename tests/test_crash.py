"""Crash safety: SIGKILL mid-ingestion (HTTP push and CLI import), restart, lose nothing acked.

On both engines: every batch the server acknowledged is there whole after the restart, no batch
is there in part, and the database opens cleanly and answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential, issue
from recent_calls.client.transport import tls_context
from recent_calls.storage import open_storage
from tests.calls import make_call
from tests.pg import fresh_database
from tests.support import LOOPBACK, NOW_MS, ServerProcess

BATCH = 2000
PUSHERS = 4


@pytest.fixture(params=["duckdb", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield str(tmp_path / "calls.duckdb")
    else:
        with fresh_database() as url:
            yield url


def _tenant(database: str, tenant_id: str) -> IssuedCredential:
    storage = open_storage(database)
    try:
        storage.create_tenant(tenant_id, "us")
        return issue(storage, tenant_id, "us")
    finally:
        storage.close()


def _batch(prefix: str, size: int) -> list[dict[str, Any]]:
    return [make_call(f"{prefix}-{i}", NOW_MS - 1000 * i - 1) for i in range(size)]


def _counts_by_batch(database: str, tenant_id: str) -> dict[str, int]:
    """How many calls of each batch (callId prefix) the database holds, after a clean open."""
    storage = open_storage(database)
    try:
        rows = storage._read(
            lambda run: run(
                "SELECT split_part(call_id, '-', 1), count(*) FROM calls "
                f"WHERE tenant_id = {storage.dialect.param('t')} GROUP BY 1",
                {"t": tenant_id},
            )
        )
        return {str(prefix): int(count) for prefix, count in rows}
    finally:
        storage.close()


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the process and what it started (import workers): no shutdown code runs."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_sigkill_during_http_ingestion_keeps_every_acknowledged_batch(
    database: str, tmp_path: Path
) -> None:
    credential = _tenant(database, "crashco")
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    env = {"RECENT_CALLS_RATE_LIMIT_PER_S": "0"}
    server = ServerProcess(database, tmp_path / "server.log", env).start()
    acked: set[str] = set()
    sent: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def push(worker: int) -> None:
        with httpx.Client(verify=tls_context(), base_url=server.url, timeout=60) as http:
            for number in range(10_000):
                if stop.is_set():
                    return
                prefix = f"w{worker}n{number}"
                with lock:
                    sent.add(prefix)
                body = {"tenantId": "crashco", "calls": _batch(prefix, BATCH)}
                try:
                    answer = http.post(
                        "/customerexperience/v1/calls/us", json=body, headers=headers
                    )
                except httpx.TransportError:
                    return  # the server died with this batch in flight
                assert answer.status_code == 200, answer.text
                with lock:
                    acked.add(prefix)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(PUSHERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # batches are in flight: every pusher posts again as soon as it is answered
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(acked) >= 8
    in_flight = sent - acked
    assert in_flight, "the kill should land while batches are in flight"

    counts = _counts_by_batch(database, "crashco")
    for prefix in acked:
        assert counts.get(prefix) == BATCH, prefix
    for prefix, count in counts.items():
        assert count == BATCH, f"batch {prefix} is stored in part: {count} of {BATCH}"
    assert set(counts) <= sent

    # The restarted server opens the database and answers from it.
    with ServerProcess(database, tmp_path / "server2.log") as again:
        found = LOOPBACK.post(
            f"{again.url}/customerexperience/v1/recentCallData/us",
            json={"tenantId": "crashco", "page": 1, "rows": 1, "duration": "allhistory"},
            headers=headers,
        ).json()
    assert found["hits"] == BATCH * len(counts)


def _file_position(pid: int, path: Path) -> int:
    """How far process `pid` has read `path` (0 if it has not opened it)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) == str(path):
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                return int(info.split("pos:")[1].split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return 0


def _cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "recent_calls", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_sigkill_during_cli_import_keeps_what_was_imported_and_nothing_in_part(
    database: str, tmp_path: Path
) -> None:
    _tenant(database, "crashco")
    first = tmp_path / "first.jsonl"
    first.write_bytes(b"\n".join(orjson.dumps(call) for call in _batch("first", BATCH)))
    done = _cli("import", "--tenant", "crashco", "--database", database, str(first))
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert f"imported {BATCH} calls" in out.decode()

    big = tmp_path / "big.jsonl"
    size = 200_000
    with big.open("wb") as file:
        for start in range(0, size, 10_000):
            chunk = [make_call(f"big-{i}", NOW_MS - i - 1) for i in range(start, start + 10_000)]
            file.write(b"\n".join(orjson.dumps(call) for call in chunk) + b"\n")
    importing = _cli("import", "--tenant", "crashco", "--database", database, str(big))
    total = big.stat().st_size
    deadline = time.monotonic() + 120
    while _file_position(importing.pid, big) < total // 2 and time.monotonic() < deadline:
        assert importing.poll() is None, importing.communicate()
        time.sleep(0.005)
    assert importing.poll() is None, "the import should still be running when it is killed"
    _kill_group(importing)

    counts = _counts_by_batch(database, "crashco")
    assert counts.get("first") == BATCH
    assert counts.get("big", 0) in (0, size), f"the import is stored in part: {counts}"
    # The database takes a new import after the crash.
    again = _cli("import", "--tenant", "crashco", "--database", database, str(first))
    assert again.wait(timeout=120) == 0
    assert _counts_by_batch(database, "crashco")["first"] == BATCH
