"""Every command and option of the CLI is documented in the README or docs/, as in sqlite-utils."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from recent_calls.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = list(_commands(main))
OPTIONS = [
    (path, flag)
    for path, command in COMMANDS
    for param in command.params
    if isinstance(param, click.Option) and not param.hidden
    for flag in param.opts + param.secondary_opts
    if flag.startswith("--") and flag != "--help"
]


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_command_is_documented(path: str) -> None:
    assert re.search(rf"recent-calls {re.escape(path)}\b", DOCS), f"`recent-calls {path}`"


@pytest.mark.parametrize(("path", "flag"), OPTIONS, ids=[f"{p} {f}" for p, f in OPTIONS])
def test_every_option_is_documented(path: str, flag: str) -> None:
    assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", DOCS), f"{flag} of {path}"


def test_the_checks_see_the_commands_and_options() -> None:
    assert ("tenant create", "--region") in OPTIONS and ("import", "--skip-invalid") in OPTIONS
