"""admin/control.py: the control file, readable only by its owner, never followed through a link."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from recent_calls.admin.control import Control, control_path, read_control, write_control
from tests.support import mode_of

CONTROL = Control("http://127.0.0.1:1", "the-admin-token", os.getpid())


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
