"""The `recent-calls` command: a thin shell over the library."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import orjson

from recent_calls import __version__
from recent_calls.admin.credentials import IssuedCredential, parse_grace, parse_scopes
from recent_calls.admin.remote import connect_admin
from recent_calls.cli.options import database_option, output_file, settings_from, unknown_variables
from recent_calls.cli.transfer import export_command, sync_command
from recent_calls.clock import make_clock, system_clock
from recent_calls.errors import FieldError, ImportRejected, InvalidRequest, RecentCallsError
from recent_calls.fields import REGIONS
from recent_calls.ingest.bulk import ImportReport
from recent_calls.ingest.sources import SourceReport
from recent_calls.ingest.telephony import (
    FORMATS,
    SOURCE_FORMATS,
    all_or_nothing,
    default_server,
    read_source,
)
from recent_calls.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def _print_issued(issued: IssuedCredential, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(issued.as_json()).decode())
        return
    click.echo(f"tenant:     {issued.tenant_id} (region {issued.region})")
    click.echo(f"key id:     {issued.key_id}")
    click.echo(f"scopes:     {','.join(issued.scopes)}")
    click.echo(f"8x8-apikey: {issued.api_key}")
    click.echo(f"token:      {issued.token}")
    click.echo("These secrets are shown once; only their hashes are stored.", err=True)


class _Group(click.Group):
    """Turns library errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImportRejected as exc:
            for error in exc.errors:
                click.echo(f"{error.field}: {error.message}", err=True)
            raise click.ClickException(
                f"{exc}; add --skip-invalid to store the valid lines and report the rest"
            ) from None
        except RecentCallsError as exc:
            # A 400 names each bad field and what is wrong with it: say all of it, once.
            for error in getattr(exc, "errors", None) or []:
                if isinstance(error, FieldError) and error.message not in str(exc):
                    click.echo(f"{error.field}: {error.message}", err=True)
            raise click.ClickException(str(exc)) from None


def _echo_now(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="recent-calls")
def main() -> None:
    """A self-hosted Recent Calls API: serve it, and manage its tenants and calls."""
    for line in unknown_variables():
        click.echo(line, err=True)


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="0 picks a free port.")
@click.option("--demo", is_flag=True, help="Create demo tenants with data if empty; print keys.")
@click.option("--demo-calls", default=20_000, show_default=True, help="Calls per demo tenant.")
@click.option("--seed", default=7, show_default=True, help="Seed of the demo data.")
@click.option("--now", help="Frozen clock: epoch ms or ISO-8601 (default: RECENT_CALLS_NOW).")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--fault-429", type=click.FloatRange(0, 1), help="Share of API requests answered 429."
)
@click.option(
    "--fault-503", type=click.FloatRange(0, 1), help="Share of API requests answered 503."
)
@click.option("--fault-delay", metavar="MS[:RATE]", help="Delay (a share of) API requests.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="API processes sharing the port (PostgreSQL only; default: RECENT_CALLS_WORKERS, else 1).",
)
def serve(
    settings: Settings,
    host: str,
    port: int,
    demo: bool,
    demo_calls: int,
    seed: int,
    now: str | None,
    log_level: str,
    fault_429: float | None,
    fault_503: float | None,
    fault_delay: str | None,
    workers: int | None,
) -> None:
    """Serve the API on DATABASE."""
    from recent_calls.api.faults import parse_delay
    from recent_calls.cli.serve import check_workers
    from recent_calls.cli.serve import serve as run

    faults: dict[str, Any] = {"fault_rate_429": fault_429, "fault_rate_503": fault_503}
    if fault_delay is not None:
        try:
            faults["fault_delay_ms"], faults["fault_delay_rate"] = parse_delay(fault_delay)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fault-delay") from None
    given = {name: value for name, value in faults.items() if value is not None}
    settings = settings_from(**{**settings.model_dump(), "now": now, "workers": workers, **given})
    try:
        check_workers(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    status = 0
    # Ctrl-C (or SIGINT) is how a server is asked to stop: that is a clean exit.
    with contextlib.suppress(KeyboardInterrupt):
        status = run(
            settings,
            host=host,
            port=port,
            demo_calls=demo_calls if demo else None,
            seed=seed,
            echo=_echo_now,
            log_level=log_level,
        )
    if status:
        raise SystemExit(status)


@main.group()
def tenant() -> None:
    """Create, list and set up tenants."""


_TIMEZONE_HELP = "IANA zone the console shows times in by default, e.g. Europe/London."


@tenant.command("create")
@database_option
@click.argument("tenant_id")
@click.option("--region", type=click.Choice(REGIONS), required=True)
@click.option("--label", default="", help="A note kept with the first credential.")
@click.option("--timezone", default=None, help=_TIMEZONE_HELP)
@json_option
def tenant_create(
    settings: Settings,
    tenant_id: str,
    region: str,
    label: str,
    timezone: str | None,
    as_json: bool,
) -> None:
    """Create TENANT_ID in REGION, with a first credential."""
    with connect_admin(settings) as admin:
        _print_issued(admin.create_tenant(tenant_id, region, label, timezone), as_json)


@tenant.command("set")
@database_option
@click.argument("tenant_id")
@click.option(
    "--retention",
    default=None,
    help="Keep calls this long (400d, 8w, 2y: days, weeks or years), or none to keep all; "
    "older calls are deleted hourly, or by `retention apply`.",
)
@click.option("--timezone", default=None, help=_TIMEZONE_HELP + ' "" clears it.')
def tenant_set(
    settings: Settings, tenant_id: str, retention: str | None, timezone: str | None
) -> None:
    """Change TENANT_ID's settings: only those given."""
    if retention is None and timezone is None:
        raise click.UsageError("nothing to change: give --retention or --timezone")
    with connect_admin(settings) as admin:
        if retention is not None:
            admin.set_retention(tenant_id, retention)
            click.echo(f"retention of {tenant_id}: {retention.strip().lower()}")
        if timezone is not None:
            admin.set_tenant(tenant_id, timezone=timezone)
            click.echo(f"tenant {tenant_id}: timezone {timezone or '(none: the browser zone)'}")


@tenant.command("list")
@database_option
@json_option
def tenant_list(settings: Settings, as_json: bool) -> None:
    """List the tenants with their region and retention period."""
    with connect_admin(settings) as admin:
        items = admin.list_tenants()
    if as_json:
        click.echo(orjson.dumps(items).decode())
        return
    for item in items:
        created = _iso(item["createdMs"])
        click.echo(
            f"{item['tenantId']}  {item['region']}  retention {item['retention']}  {created}"
        )


@main.group()
def retention() -> None:
    """Delete calls older than their tenant's retention period."""


@retention.command("apply")
@database_option
@click.option("--tenant", "tenant_id", help="Only this tenant (default: every tenant with one).")
def retention_apply(settings: Settings, tenant_id: str | None) -> None:
    """Delete now what retention no longer keeps (the server also does it hourly)."""
    with connect_admin(settings) as admin:
        deleted = admin.apply_retention(tenant_id)
    if not deleted:
        click.echo("no tenant has a retention period")
    for name, count in deleted.items():
        click.echo(f"{name}: deleted {count} calls")


@main.command()
@database_option
@click.option("--tenant", "tenant_id", required=True, help="The tenant whose calls to erase.")
@click.option("--number", help="The caller's number; matched by its digits.")
@click.option("--name", help="The caller's name; matched whole, case and accents folded.")
@click.option("--dry-run", is_flag=True, help="Only count the calls and show the newest.")
@json_option
def erase(
    settings: Settings,
    tenant_id: str,
    number: str | None,
    name: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete every call of one caller (a GDPR erasure request); the audit keeps no number."""
    if not number and not name:
        raise click.UsageError("give --number or --name (or both)")
    with connect_admin(settings) as admin:
        result = admin.erase(tenant_id, number, name, dry_run=dry_run)
    if as_json:
        click.echo(orjson.dumps(result).decode())
        return
    if dry_run:
        click.echo(f"{result['calls']} calls would be erased from {tenant_id}; the newest:")
        for call in result["first"]:
            click.echo(
                f"  {_iso(call['startMs'])}  {call['callId']}  {call['callerName']}  "
                f"{call['callerNumber']}"
            )
        return
    click.echo(f"erased {result['erased']} calls from {tenant_id}")


@main.group()
def credentials() -> None:
    """Create, list, rotate and revoke a tenant's credentials."""


@credentials.command("create")
@database_option
@click.argument("tenant_id")
@click.option("--label", default="")
@click.option(
    "--scope",
    default="read,push",
    show_default=True,
    help="What it may do: read (queries, export, the console), push (sending calls) or both.",
)
@json_option
def credentials_create(
    settings: Settings, tenant_id: str, label: str, scope: str, as_json: bool
) -> None:
    """Issue a new credential for TENANT_ID."""
    try:
        scopes = parse_scopes(scope)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None
    with connect_admin(settings) as admin:
        _print_issued(admin.create_credential(tenant_id, label, scopes), as_json)


@credentials.command("list")
@database_option
@click.argument("tenant_id")
@json_option
def credentials_list(settings: Settings, tenant_id: str, as_json: bool) -> None:
    """List TENANT_ID's credentials (never their secrets)."""
    with connect_admin(settings) as admin:
        items = admin.list_credentials(tenant_id)
    if as_json:
        click.echo(orjson.dumps(items).decode())
        return
    now_ms = system_clock()
    for item in items:
        revoked = item["revokedMs"]
        state = "live" if revoked is None else "revoked" if revoked <= now_ms else "expiring"
        created = _iso(item["createdMs"])
        until = f"  (until {_iso(revoked)})" if state == "expiring" else ""
        scopes = ",".join(item["scopes"])
        click.echo(f"{item['keyId']}  {state:8}  {scopes:9}  {created}  {item['label']}{until}")


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


@credentials.command("rotate")
@database_option
@click.argument("tenant_id")
@click.argument("key_id")
@click.option(
    "--grace", default="24h", show_default=True, help="How long the old one keeps working."
)
@click.option("--label", default="", help="Label of the new credential (default: the old's).")
@json_option
def credentials_rotate(
    settings: Settings, tenant_id: str, key_id: str, grace: str, label: str, as_json: bool
) -> None:
    """Issue a new credential for TENANT_ID; KEY_ID keeps working for the grace period."""
    try:
        grace_ms = parse_grace(grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None
    with connect_admin(settings) as admin:
        issued = admin.rotate_credential(tenant_id, key_id, grace_ms, label)
    _print_issued(issued, as_json)
    click.echo(f"{key_id} stops working in {grace}.", err=True)


@main.command()
@database_option
@click.option("--tenant", "tenant_id", help="Only this tenant's actions.")
@click.option("--limit", default=100, show_default=True)
@json_option
def audit(settings: Settings, tenant_id: str | None, limit: int, as_json: bool) -> None:
    """Show the latest admin actions (who, what, when), newest first."""
    with connect_admin(settings) as admin:
        entries = admin.audit_log(tenant_id, limit)
    if as_json:
        click.echo(orjson.dumps(entries).decode())
        return
    for e in entries:
        key = f" {e['keyId']}" if e["keyId"] else ""
        click.echo(
            f"{_iso(e['atMs'])}  {e['actor']}  {e['action']}  {e['tenantId']}{key}  "
            f"{e['detail']}".rstrip()
        )


@credentials.command("revoke")
@database_option
@click.argument("tenant_id")
@click.argument("key_id")
def credentials_revoke(settings: Settings, tenant_id: str, key_id: str) -> None:
    """Revoke TENANT_ID's credential KEY_ID (the id `credentials list` shows)."""
    with connect_admin(settings) as admin:
        admin.revoke_credential(tenant_id, key_id)
    click.echo(f"revoked {key_id}")


@main.command("import")
@database_option
@click.option("--tenant", "tenant_id", required=True, help="The tenant the calls belong to.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="What SOURCE is: JSON Lines of calls, or what a telephony system logged.",
)
@click.option(
    "--timezone",
    help="Zone of callDate values (json, default GMT) or of Master.csv (asterisk, default UTC).",
)
@click.option(
    "--cdr",
    type=click.Path(dir_okay=False, path_type=Path),
    help="asterisk: the Master.csv to join with the queue_log.",
)
@click.option("--server", help="asterisk: the name in callIds (default: this host's name).")
@click.option("--skip-invalid", is_flag=True, help="Store the valid lines, report the rest.")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
def import_command(
    settings: Settings,
    tenant_id: str,
    fmt: str,
    timezone: str | None,
    cdr: Path | None,
    server: str | None,
    skip_invalid: bool,
    sources: tuple[str, ...],
) -> None:
    """Import calls from SOURCE: JSON Lines (- for standard input), an Asterisk queue_log,
    FreeSWITCH JSON CDR files or folders, or Amazon Connect contact records."""
    if fmt != "asterisk" and (cdr is not None or server is not None):
        raise click.UsageError("--cdr and --server are for --format asterisk")
    if fmt == "json":
        if len(sources) != 1:
            raise click.UsageError("--format json reads one SOURCE")
        with click.open_file(sources[0], "rb") as source, connect_admin(settings) as admin:
            report = admin.import_file(
                tenant_id, source, timezone=timezone or "GMT", skip_invalid=skip_invalid
            )
        _print_import(tenant_id, report, report.errors, report.invalid)
        return
    if "-" in sources:
        raise click.UsageError(f"--format {fmt} reads files, not standard input")
    read = SourceReport()
    calls = read_source(
        fmt,
        [Path(s) for s in sources],
        read,
        cdr=cdr,
        timezone=timezone,
        server=server,
        typed=True,
    )
    with connect_admin(settings) as admin:
        stored = admin.import_calls(
            tenant_id,
            all_or_nothing(calls, read, skip_invalid=skip_invalid),
            skip_invalid=skip_invalid,
        )
    errors = [*read.errors, *stored.errors]
    tail = ""
    if fmt in ("asterisk", "freeswitch"):
        tail = f"; {read.open_calls} calls left open, {read.unknown_events} unknown events"
    if read.skipped:
        tail += f"; {read.skipped} records not calls (agent legs, chats, older updates)"
    _print_import(tenant_id, stored, errors, read.invalid + stored.invalid, tail)


def _print_import(
    tenant_id: str, report: ImportReport, errors: list[FieldError], invalid: int, tail: str = ""
) -> None:
    for error in errors:
        click.echo(f"skipped {error.field}: {error.message}", err=True)
    # Said only when it happened: a call stored with a newer version than the import's.
    kept = f"{report.kept} kept (the stored version is newer), " if report.kept else ""
    click.echo(
        f"imported {report.received} calls into {tenant_id}: {report.inserted} new, "
        f"{report.replaced} replaced, {kept}{invalid} invalid lines skipped{tail}"
    )


@main.command()
@database_option
@click.option("--tenant", "tenant_id", required=True, help="The tenant the calls belong to.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["asterisk"]),
    default="asterisk",
    show_default=True,
    help="What QUEUE_LOG is (FreeSWITCH posts its calls; Connect delivers files to import).",
)
@click.option("--server", help="The name in callIds (default: this host's name).")
@click.option(
    "--cdr",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Master.csv to follow beside QUEUE_LOG (IVR time, calls without a queue).",
)
@click.option("--timezone", default="UTC", show_default=True, help="Zone of Master.csv's times.")
@click.option(
    "--interval",
    type=click.FloatRange(0.01, 60),
    default=0.2,
    show_default=True,
    help="Seconds between looks at the files when nothing is new.",
)
@click.argument("queue_log", type=click.Path(dir_okay=False, path_type=Path))
def follow(
    settings: Settings,
    tenant_id: str,
    fmt: str,
    server: str | None,
    cdr: Path | None,
    timezone: str,
    interval: float,
    queue_log: Path,
) -> None:
    """Store each call of QUEUE_LOG as its final line is written, until stopped; resumes where
    it stopped (its position is kept in the database, per tenant and file). With --cdr, each
    call is stored again once its Master.csv rows are written, joined with them, and calls
    that never reached a queue are stored from their rows."""
    from recent_calls.cli.follow import run_follower

    with connect_admin(settings) as admin:
        run_follower(
            admin,
            tenant_id,
            queue_log,
            server=server or default_server(),
            cdr=cdr,
            timezone=timezone,
            interval=interval,
            echo=_echo_now,
        )


@main.command()
@database_option
@click.option("--calls", default=20_000, show_default=True, help="Calls per demo tenant.")
@click.option("--seed", default=7, show_default=True)
@click.option("--now", help="Frozen clock: epoch ms or ISO-8601 (default: RECENT_CALLS_NOW).")
@click.option(
    "--as",
    "as_source",
    type=click.Choice(SOURCE_FORMATS),
    help="Write the first demo tenant's calls into DIR as this source logs them, instead.",
)
@click.argument("folder", required=False, metavar="[DIR]", type=click.Path(path_type=Path))
@json_option
def demo(
    settings: Settings,
    calls: int,
    seed: int,
    now: str | None,
    as_source: str | None,
    folder: Path | None,
    as_json: bool,
) -> None:
    """(Re)create the demo tenants with seeded calls and print fresh credentials; with --as,
    write the calls into DIR as Asterisk, FreeSWITCH or Amazon Connect would have logged them."""
    if as_source is not None or folder is not None:
        if as_source is None or folder is None:
            raise click.UsageError("--as FORMAT and DIR go together")
        click.echo(_write_demo_source(as_source, folder, calls, seed, make_clock(now)()))
        return
    with connect_admin(settings_from(**{**settings.model_dump(), "now": now})) as admin:
        issued = admin.seed_demo(calls, seed, replace=True)
    for credential in issued:
        _print_issued(credential, as_json)


@contextlib.contextmanager
def _text(
    binary: contextlib.AbstractContextManager[IO[bytes]], newline: str | None = None
) -> Iterator[IO[str]]:
    """A UTF-8 text stream over a binary output file (cli/options.output_file)."""
    with binary as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline=newline)
        try:
            yield text
        finally:
            text.flush()
            text.detach()


def _write_whole(path: Path, data: bytes) -> None:
    with output_file(str(path)) as out:
        out.write(data)


def _write_demo_source(fmt: str, folder: Path, count: int, seed: int, end_ms: int) -> str:
    """Write the files; the command that imports them."""
    from recent_calls.demo import DEMO_TENANTS, generate_calls
    from recent_calls.demo.telephony import write_asterisk, write_connect, write_freeswitch

    tenant = DEMO_TENANTS[0]
    calls = generate_calls(
        tenant.tenant_id, count, seed=seed, end_ms=end_ms, timezone=tenant.timezone
    )
    folder.mkdir(parents=True, exist_ok=True)
    command = f"recent-calls import --tenant {tenant.tenant_id} --format {fmt} "
    if fmt == "asterisk":
        queue_log, master = folder / "queue_log", folder / "Master.csv"
        with (
            _text(output_file(str(queue_log))) as log_out,
            _text(output_file(str(master)), newline="") as cdr_out,
        ):
            write_asterisk(calls, log_out, cdr_out, timezone=tenant.timezone)
        return command + f"{queue_log} --cdr {master} --timezone {tenant.timezone}"
    if fmt == "freeswitch":
        write_freeswitch(calls, folder, write=_write_whole)
        return command + str(folder)
    records = folder / "ctr.json"
    with _text(output_file(str(records))) as out:
        write_connect(calls, out)
    return command + str(records)


@main.command()
@database_option
def compact(settings: Settings) -> None:
    """Re-cluster call data by tenant and time (the server also does this when needed)."""
    with connect_admin(settings) as admin:
        admin.compact()
    click.echo("compacted")


@main.group()
def directory() -> None:
    """Load and show a tenant's display names of agents, queues, groups and channels."""


@directory.command("import")
@database_option
@click.option("--tenant", "tenant_id", required=True, help="The tenant the names belong to.")
@click.argument("source", type=click.File("rb"))
def directory_import(settings: Settings, tenant_id: str, source: IO[bytes]) -> None:
    """Replace the tenant's whole directory with SOURCE (CSV `kind,id,name`, or - for stdin).

    A file with any bad line is rejected whole, naming every bad line.
    """
    from recent_calls.query.directory import parse_csv

    try:
        entries = parse_csv(source.read())
        with connect_admin(settings) as admin:
            count = admin.replace_directory(tenant_id, entries)
    except InvalidRequest as exc:
        for error in exc.errors:
            click.echo(f"{error.field}: {error.message}", err=True)
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {count} names into the directory of {tenant_id}")


@directory.command("export")
@database_option
@click.option("--tenant", "tenant_id", required=True, help="The tenant whose names to print.")
def directory_export(settings: Settings, tenant_id: str) -> None:
    """Print the tenant's directory as CSV (`kind,id,name`), as `directory import` reads it."""
    from recent_calls.query.directory import to_csv

    with connect_admin(settings) as admin:
        entries = admin.directory(tenant_id)
    click.echo(to_csv(entries), nl=False)


@main.command()
@database_option
@click.option(
    "--shard-count", type=click.IntRange(1, 64000), help="Shards of calls (Citus default: 32)."
)
def distribute(settings: Settings, shard_count: int | None) -> None:
    """Distribute the schema by tenant on a Citus coordinator (safe to run again)."""
    from recent_calls.storage.citus import distribute as run

    report = run(settings.database, shard_count=shard_count)
    for line in report.lines():
        click.echo(line)
    click.echo(f"Citus {report.citus_version}, {report.workers} workers")


main.add_command(export_command)
main.add_command(sync_command)
