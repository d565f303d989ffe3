"""The control file: how a CLI finds the server that holds an embedded database open.

DuckDB lets one process write a file. While `recent-calls serve` has it, the server writes
`<database>.control.json` (readable by its owner only) with its address and an admin token;
admin commands run against that database then go through the server's admin API.

The file holds a secret, so it is written as a new 0600 file beside the old one (O_EXCL, so
nothing already there is opened) and renamed into place: a symlink or a stale file of any mode
at that name is replaced, never followed or reused. It is read without following a symlink,
and only when it is a regular file the reader owns with no access for group or others.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Control:
    url: str
    admin_token: str
    pid: int


def control_path(database: str) -> Path:
    return Path(f"{database}.control.json")


def write_control(database: str, control: Control) -> Path:
    path = control_path(database)
    text = json.dumps({"url": control.url, "adminToken": control.admin_token, "pid": control.pid})
    # mkstemp opens with O_CREAT|O_EXCL and mode 0600 under a fresh random name.
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # rename(2) replaces a symlink itself, not its target
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _read_private(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "r") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise OSError(f"{path} is not a regular file of this user")
        if info.st_mode & 0o077:
            raise OSError(f"{path} is readable by others")
        return handle.read()


def read_control(database: str) -> Control | None:
    """The live server's control record, or None when there is none or its process is gone."""
    try:
        data = json.loads(_read_private(control_path(database)))
        control = Control(str(data["url"]), str(data["adminToken"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(control.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return control


def remove_control(database: str) -> None:
    control_path(database).unlink(missing_ok=True)
