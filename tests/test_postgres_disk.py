"""PostgreSQL after a full disk: the write that hit it is a 507 (not a 500), nothing
acknowledged is lost, and writes work again once there is room.

The database lives in a tablespace on a small tmpfs the test mounts, in a throwaway cluster of
its own (root only: CI runs as root).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from recent_calls.api.app import create_app
from recent_calls.cli.main import main
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from tests.calls import make_call
from tests.pg import fresh_database, start_throwaway_cluster
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant, mount_tmpfs

START = 1_710_000_000_000
BATCH = 1000
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


@pytest.fixture
def small_tablespace() -> Iterator[tuple[str, Path]]:
    """A database whose tables live on a 12 MiB tmpfs: its URL and the mount point."""
    # Not under the test's tmp_path, which the server's account may not enter.
    disk = Path(tempfile.mkdtemp(prefix="rc-test-disk-"))
    mounted = mount_tmpfs(disk, "12m")
    if mounted.returncode != 0:
        disk.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        owner = pwd.getpwnam("postgres")
        os.chown(disk, owner.pw_uid, owner.pw_gid)
        server = start_throwaway_cluster()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE TABLESPACE small LOCATION {}").format(sql.Literal(str(disk)))
            )
        try:
            with fresh_database(server) as url:
                with psycopg.connect(url, autocommit=True) as conn:
                    name = conn.execute("SELECT current_database()").fetchone()
                    assert name is not None
                with psycopg.connect(server, autocommit=True) as admin:
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} SET TABLESPACE small").format(
                            sql.Identifier(str(name[0]))
                        )
                    )
                yield url, disk
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute("DROP TABLESPACE IF EXISTS small")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        disk.rmdir()


def _batch(number: int) -> dict[str, object]:
    calls = [make_call(f"b{number}-{i}", START + i) for i in range(BATCH)]
    return {"tenantId": "acme", "calls": calls}


def test_a_full_disk_is_a_507_and_writes_resume_with_room_postgres(
    small_tablespace: tuple[str, Path],
) -> None:
    url, disk = small_tablespace
    storage = open_storage(url)
    credential = add_tenant(storage, "acme", "us", [])
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    http = InProcessHTTP(create_app(Settings(database=url, now=FROZEN_NOW), storage=storage))
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
        assert "disk is full" in pushed.json()["detail"]
        assert "Retry-After" in pushed.headers
        read = http.post("/customerexperience/v1/recentCallData/us", json=BODY, headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["hits"] == acknowledged * BATCH  # every acknowledged call, no more
        assert mount_tmpfs(disk, "128m", "remount").returncode == 0
        again = http.post("/customerexperience/v1/calls/us", json=_batch(999), headers=headers)
        assert again.status_code == 200, again.text
    finally:
        http.close()
        storage.close()


def test_a_full_disk_during_import_is_one_line_of_error_postgres(
    small_tablespace: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = small_tablespace
    storage = open_storage(url)
    storage.create_tenant("acme", "us")
    storage.close()
    source = tmp_path / "calls.jsonl"
    with source.open("wb") as lines:
        for i in range(60_000):
            lines.write(orjson.dumps(make_call(f"c{i}", START + i, callerName=f"c {i}")) + b"\n")
    result = CliRunner().invoke(
        main, ["import", "--tenant", "acme", "--database", url, str(source)]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines_out = result.output.strip().splitlines()
    assert len(lines_out) == 1 and "disk is full" in lines_out[0], result.output
