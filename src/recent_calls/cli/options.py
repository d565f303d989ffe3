"""What every command shares: the database option that fills `Settings`, and the variable check.

`Settings` (and, for the commands that talk to another server, `ClientSettings`) are the only
readers of RECENT_CALLS_* variables: an option given on the command line overrides its
variable, and the command is handed the resulting settings rather than a bare value.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from pydantic import ValidationError

from recent_calls.client.settings import ClientSettings
from recent_calls.settings import DEFAULT_DATABASE, ENV_PREFIX, Settings

F = TypeVar("F", bound=Callable[..., Any])


def settings_from(**given: Any) -> Settings:
    """Settings from the RECENT_CALLS_* variables, overridden by the options given (not None)."""
    try:
        return Settings(**{name: value for name, value in given.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(f"invalid settings: {problems}") from None


_DATABASE_FILE = "recent_calls.database_file"


def _remember_file(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta[_DATABASE_FILE] = value  # eager: `--database` reads it when it makes the settings


def _settings(ctx: click.Context, param: click.Parameter, value: str | None) -> Settings:
    database_file = ctx.meta.get(_DATABASE_FILE)
    if value is not None and database_file is not None:
        raise click.UsageError("give --database or --database-file, not both")
    return settings_from(database=value, database_file=database_file)


def database_option(command: F) -> F:
    """`--database` or `--database-file`, handed to the command as the `settings` they fill.

    A URL given as an argument shows its password in `ps`; one in a file (or the environment)
    does not.
    """
    command = click.option(
        "--database-file",
        is_eager=True,
        expose_value=False,
        callback=_remember_file,
        metavar="FILE",
        help="A file whose first line is the database path or URL, so that a password in it "
        "stays out of the process list (default: RECENT_CALLS_DATABASE_FILE).",
    )(command)
    return click.option(
        "--database",
        "settings",
        callback=_settings,
        metavar="DATABASE",
        help="A DuckDB file path, or a postgresql:// URL "
        f"(default: RECENT_CALLS_DATABASE, else {DEFAULT_DATABASE}).",
    )(command)


_TESTS = ENV_PREFIX + "TEST_"
"""The test suite's own variables (tests/pg.py), which no setting reads."""


def known_variables() -> set[str]:
    """Every RECENT_CALLS_* variable the server's or the client's settings read."""
    names = set(Settings.model_fields) | set(ClientSettings.model_fields)
    return {ENV_PREFIX + name.upper() for name in names}


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """A warning per RECENT_CALLS_* variable that nothing reads, naming the one it may mean."""
    known = known_variables()
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known and not upper.startswith(_TESTS):
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            lines.append(f"warning: {name} is not a recent-calls setting and is ignored{hint}")
    return lines


@contextlib.contextmanager
def output_file(path: str) -> Iterator[IO[bytes]]:
    """The output file: a regular file (or a new one) is written to a partial file beside it,
    created exclusively (mode 0600, a fresh name, never through an existing name or symlink)
    and renamed into place only once complete; a FIFO, a device or `-` is written as it is."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    try:
        mode: int | None = target.stat().st_mode  # through a symlink: what is written to
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise click.ClickException(f"{path} is a directory: give a file name with -o")
    if mode is not None and not stat.S_ISREG(mode):
        # -o /dev/stdout or a FIFO is meant to be written to; replacing it would break that.
        with target.open("wb") as handle:
            yield handle
        return
    try:
        # mkstemp opens with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: the file holds personal data.
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise click.ClickException(f"cannot write beside {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
