"""`recent-calls export` and `recent-calls sync`: calls out of, and into, Recent Calls servers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from recent_calls.admin.base import Admin
from recent_calls.admin.remote import connect_admin
from recent_calls.cli.options import database_option, output_file
from recent_calls.client import Duration, Page, Query, RecentCallsClient, SortOrder
from recent_calls.client.errors import MissingCredentials
from recent_calls.client.files import FORMATS, Format, export_calls
from recent_calls.errors import NotFound
from recent_calls.fields import (
    COUNT_FILTERS,
    DURATION_FILTERS,
    DURATIONS,
    OUTCOMES,
    REGIONS,
    option_name,
)
from recent_calls.ingest.sync import DEFAULT_OVERLAP_MS, SyncReport, sync_tenant
from recent_calls.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


_COUNT_HELP = 'Count range "range:X,Y" (-1: unbounded).'
_DURATION_HELP = 'Duration range "sec:X,Y" or "min:X,Y" (-1: unbounded).'
FILTERS = tuple(
    ("--" + option_name(name).replace("_", "-"), option_name(name), help_text)
    for names, help_text in ((COUNT_FILTERS, _COUNT_HELP), (DURATION_FILTERS, _DURATION_HELP))
    for name in names
)
"""The count and duration filters as options: (flag, parameter, help)."""


def _connection(url_flag: str) -> Callable[[F], F]:
    """The source server's address and credentials, as flags or RECENT_CALLS_* variables."""

    def decorate(command: F) -> F:
        options = [
            # No envvar=: the client's settings (ClientSettings) read RECENT_CALLS_* themselves.
            click.option(
                url_flag,
                "base_url",
                help="The server's base URL (default: RECENT_CALLS_BASE_URL, else the vendor's).",
            ),
            click.option("--api-key", help="(default: RECENT_CALLS_API_KEY)"),
            click.option("--token", help="(default: RECENT_CALLS_TOKEN)"),
            click.option(
                "--region",
                type=click.Choice(REGIONS),
                help="(default: RECENT_CALLS_REGION, else us)",
            ),
            click.option("--tenant", "tenant_id", required=True, help="The tenant's id."),
            click.option("--rows", default=1000, show_default=True, help="Calls per page (≤5000)."),
            click.option(
                "--progress/--no-progress",
                default=None,
                help="Show a progress bar (default: when standard error is a terminal).",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _filters(command: F) -> F:
    options = [
        click.option("--duration", type=click.Choice(DURATIONS)),
        click.option("--time-range", help='"START-END" in epoch ms UTC, both ends included.'),
        click.option("--timezone", default="GMT", show_default=True, help="IANA time zone."),
        click.option("--caller", help="Substring of the caller's name or number."),
        click.option("--agent", "agents", multiple=True, help="Agent id (repeatable; any of)."),
        click.option("--queue", "queues", multiple=True, help="Queue id (repeatable; any of)."),
        click.option("--group", "groups", multiple=True, help="Agent group (repeatable; any of)."),
        click.option("--channel", "channels", multiple=True, help="Dialed number (repeatable)."),
        click.option(
            "--outcome",
            "outcomes",
            type=click.Choice(OUTCOMES),
            multiple=True,
            help="answered, abandoned or other (repeatable; any of; this project's extension).",
        ),
        *(click.option(flag, name, help=text) for flag, name, text in FILTERS),
        click.option("--sort-column", help="Order by this column (this project's extension)."),
        click.option("--sort-order", type=click.Choice(["asc", "desc"])),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _time_range(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return int(start.strip()), int(end.strip())
    except ValueError:
        raise click.BadParameter(
            'expected "START-END" in epoch ms', param_hint="--time-range"
        ) from None


def _query(options: dict[str, Any]) -> Query:
    return Query(
        duration=cast(Duration | None, options["duration"]),
        time_range=_time_range(options["time_range"]) if options["time_range"] else None,
        timezone=options["timezone"],
        caller=options["caller"],
        agents=options["agents"],
        queues=options["queues"],
        groups=options["groups"],
        channels=options["channels"],
        outcomes=options["outcomes"],
        sort_column=options["sort_column"],
        sort_order=cast(SortOrder | None, options["sort_order"]),
        **{name: options[name] for _, name, _ in FILTERS},
    )


def _client(
    base_url: str | None, api_key: str | None, token: str | None, region: str | None
) -> RecentCallsClient:
    try:
        return RecentCallsClient(base_url, api_key=api_key, token=token, region=region)
    except MissingCredentials:
        raise click.UsageError(
            "an API key and a token are needed: give --api-key and --token, or set "
            "RECENT_CALLS_API_KEY and RECENT_CALLS_TOKEN"
        ) from None


@contextlib.contextmanager
def _progress_bar(enabled: bool | None, what: str) -> Iterator[Callable[[int, int], None]]:
    """A callback (done, total) that draws a bar on standard error, or does nothing."""
    console = Console(stderr=True)
    if enabled is None:
        enabled = console.is_terminal
    if not enabled:
        yield lambda done, total: None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task(what, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=max(total, done))


@click.command("export")
@_connection("--base-url")
@_filters
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's suffix."
)
@click.option("-o", "--output", required=True, help="The file to write (- for standard output).")
def export_command(
    base_url: str | None,
    api_key: str | None,
    token: str | None,
    region: str | None,
    tenant_id: str,
    rows: int,
    progress: bool | None,
    fmt: str | None,
    output: str,
    **filters: Any,
) -> None:
    """Export a tenant's calls from a Recent Calls server to CSV, JSON Lines or Parquet."""
    if fmt is None:
        suffix = Path(output).suffix.lstrip(".").lower()
        fmt = {"ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
        if fmt not in FORMATS:
            raise click.UsageError("give --format csv, jsonl or parquet")
    if fmt == "parquet" and output == "-":
        raise click.UsageError("Parquet needs a file: give -o FILE")
    query = _query(filters)
    with (
        _client(base_url, api_key, token, region) as client,
        _progress_bar(progress, f"exporting {tenant_id}") as bar,
        output_file(output) as target,
    ):
        result = export_calls(
            client, tenant_id, query, target, cast(Format, fmt), rows=rows, progress=bar
        )
    shown = "standard output" if output == "-" else output
    click.echo(
        f"exported {result.written} calls of {tenant_id} to {shown} ({fmt})", err=output == "-"
    )


def _ensure_tenant(admin: Admin, tenant_id: str, region: str) -> None:
    try:
        admin.list_credentials(tenant_id)
    except NotFound:
        issued = admin.create_tenant(tenant_id, region, "sync")
        # Nobody asked for a credential: a secret printed here would end in logs, and one
        # left live would outlast a sync that fails before its first page.
        admin.revoke_credential(tenant_id, issued.key_id)
        click.echo(
            f"created tenant {tenant_id} (region {region}); to read it, issue a credential "
            f"with: recent-calls credentials create {tenant_id}",
            err=True,
        )


@click.command("sync")
@_connection("--from")
@database_option
@click.option("--local-tenant", help="Store the calls under this tenant (default: --tenant).")
@click.option(
    "--overlap",
    default=DEFAULT_OVERLAP_MS // 60_000,
    show_default=True,
    type=click.IntRange(0),
    help="Minutes re-read before the watermark, for calls that reach the source late.",
)
@click.option("--full", is_flag=True, help="Ignore the watermark: read the whole history again.")
@click.option("--skip-invalid", is_flag=True, help="Store the valid calls, report the rest.")
@click.option(
    "--erase-missing",
    is_flag=True,
    help="Also delete the local calls of the re-read window (the overlap, or all with --full) "
    "that the source no longer has: what it erased.",
)
@click.option(
    "--allow-mass-erase",
    is_flag=True,
    help="With --erase-missing, erase even more than half of the window's calls.",
)
def sync_command(
    base_url: str | None,
    api_key: str | None,
    token: str | None,
    region: str | None,
    tenant_id: str,
    rows: int,
    progress: bool | None,
    settings: Settings,
    local_tenant: str | None,
    overlap: int,
    full: bool,
    skip_invalid: bool,
    erase_missing: bool,
    allow_mass_erase: bool,
) -> None:
    """Mirror a tenant from another Recent Calls server into the local database, incrementally.

    Safe to interrupt and run again: calls are replaced by callId, and a watermark per tenant
    and source (kept in the database) makes later runs fetch only what is new. With
    --erase-missing, what the source erased is erased here too, within the window re-read.
    """
    local = local_tenant or tenant_id
    with (
        _client(base_url, api_key, token, region) as client,
        connect_admin(settings) as admin,
        _progress_bar(progress, f"syncing {tenant_id}") as bar,
    ):
        _ensure_tenant(admin, local, client.region)

        def step(report: SyncReport, page: Page) -> None:
            bar(report.fetched, page.hits)

        report = sync_tenant(
            client,
            admin,
            tenant_id,
            local_tenant=local,
            overlap_ms=overlap * 60_000,
            rows=rows,
            full=full,
            skip_invalid=skip_invalid,
            on_page=step,
            erase_missing=erase_missing,
            allow_mass_erase=allow_mass_erase,
        )
    click.echo(
        f"synced {tenant_id} from {report.source} into {local}: {report.fetched} calls in "
        f"{report.pages} pages, {report.inserted} new, {report.replaced} replaced; "
        f"watermark {report.watermark_after}"
        + (f"; {report.erased} erased (gone from the source)" if erase_missing else "")
    )
    if report.erase_skipped:
        click.echo(f"warning: not erased: {report.erase_skipped}", err=True)
