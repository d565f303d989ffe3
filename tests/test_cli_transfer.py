"""`recent-calls export -o FILE` and `recent-calls sync`: what they do to files and credentials."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.cli.main import main
from recent_calls.storage.base import Storage
from tests.support import LiveServer, varied_calls
from tests.upstream import answer, upstream


def _env(server: LiveServer, credential: IssuedCredential) -> dict[str, str]:
    return {
        "RECENT_CALLS_BASE_URL": server.url,
        "RECENT_CALLS_API_KEY": credential.api_key,
        "RECENT_CALLS_TOKEN": credential.token,
        "RECENT_CALLS_REGION": credential.region,
    }


def _folder(tmp_path: Path) -> Path:
    """A folder of the test's own (tmp_path also holds the database)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _export(server: LiveServer, credential: IssuedCredential, output: str) -> tuple[int, str]:
    args = ["export", "--tenant", "acme", "--format", "jsonl", "-o", output, "--rows", "7"]
    result = CliRunner().invoke(main, args, env=_env(server, credential))
    return result.exit_code, result.output


def test_a_planted_partial_symlink_is_never_written_through(
    server: LiveServer, tmp_path: Path
) -> None:
    tmp_path = _folder(tmp_path)
    credential = server.tenant("acme", calls=varied_calls(20))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "calls.jsonl"
    (tmp_path / "calls.jsonl.part").symlink_to(victim)
    status, output = _export(server, credential, str(target))
    assert status == 0, output
    assert victim.read_text() == "keep me"
    assert not target.is_symlink() and stat.S_ISREG(target.lstat().st_mode)
    assert len(target.read_bytes().splitlines()) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "calls.jsonl", "calls.jsonl.part", "victim.txt"
    ]  # fmt: skip


def test_export_files_are_private_and_replace_a_regular_target(
    server: LiveServer, tmp_path: Path
) -> None:
    tmp_path = _folder(tmp_path)
    credential = server.tenant("acme", calls=varied_calls(20))
    target = tmp_path / "calls.jsonl"
    target.write_text("old")
    target.chmod(0o644)
    # A umask that lets everyone read new files, as on many machines (and unlike this process
    # once it has opened a DuckDB file).
    previous = os.umask(0o022)
    try:
        status, output = _export(server, credential, str(target))
    finally:
        os.umask(previous)
    assert status == 0, output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(target.read_bytes().splitlines()) == 20
    assert [p.name for p in tmp_path.iterdir()] == ["calls.jsonl"]


def test_a_fifo_target_is_written_to_and_stays_a_fifo(server: LiveServer, tmp_path: Path) -> None:
    tmp_path = _folder(tmp_path)
    credential = server.tenant("acme", calls=varied_calls(20))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as pipe:
            received.append(pipe.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    status, output = _export(server, credential, str(fifo))
    reader.join(timeout=30)
    assert status == 0, output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [orjson.loads(line)["callId"] for line in received[0].splitlines()] != []
    assert len(received[0].splitlines()) == 20


def test_a_directory_target_is_refused_in_one_line(server: LiveServer, tmp_path: Path) -> None:
    tmp_path = _folder(tmp_path)
    credential = server.tenant("acme", calls=varied_calls(5))
    status, output = _export(server, credential, str(tmp_path))
    assert status == 1
    assert output == f"Error: {tmp_path} is a directory: give a file name with -o\n"
    assert list(tmp_path.iterdir()) == []


def test_a_sync_that_fails_at_once_leaves_no_live_credential_and_prints_no_secret(
    storage: Storage, database: str
) -> None:
    def refuses(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, b'{"title": "Unauthorized", "status": 401}', "401 Unauthorized")

    with upstream(refuses) as (url, _):
        args = ["sync", "--from", url, "--api-key", "k", "--token", "t", "--tenant", "acme"]
        result = CliRunner().invoke(main, [*args, "--database", database])
    assert result.exit_code == 1
    assert "created tenant acme (region us)" in result.stderr
    assert "recent-calls credentials create acme" in result.stderr
    assert "token" not in result.stderr.replace("--token", "")
    assert storage.get_tenant("acme") is not None
    assert [c.revoked_ms is not None for c in storage.list_credentials("acme")] == [True]


def test_export_outcome_keeps_only_the_calls_that_ended_so(
    server: LiveServer, tmp_path: Path
) -> None:
    # varied_calls: call 0 has no handle time and no abandon time (other); the rest answered.
    credential = server.tenant("acme", calls=varied_calls(6))
    target = _folder(tmp_path) / "calls.jsonl"
    args = ["export", "--tenant", "acme", "--format", "jsonl", "-o", str(target)]
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--outcome", "other"], env=_env(server, credential))
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["callId"] for line in target.read_bytes().splitlines()] == [
        "acme-000"
    ]
    both = ["--outcome", "answered", "--outcome", "other"]
    result = runner.invoke(main, [*args, *both], env=_env(server, credential))
    assert result.exit_code == 0 and len(target.read_bytes().splitlines()) == 6
    bad = runner.invoke(main, [*args, "--outcome", "missed"], env=_env(server, credential))
    assert bad.exit_code == 2 and "--outcome" in bad.output and "'missed'" in bad.output
