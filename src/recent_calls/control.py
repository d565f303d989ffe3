"""The control file: how a CLI finds the server that holds an embedded database open.

DuckDB lets one process write a file. While `recent-calls serve` has it, the server writes
`<database>.control.json` (readable by its owner only) with its address and an admin token;
admin commands run against that database then go through the server's admin API.
"""

from __future__ import annotations

import json
import os
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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def read_control(database: str) -> Control | None:
    """The live server's control record, or None when there is none or its process is gone."""
    try:
        data = json.loads(control_path(database).read_text())
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
