"""`recent-calls import --format asterisk|freeswitch|connect` and `demo --as`: the round trip
of the demo's calls through each source's files into a real database, on both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from recent_calls.cli.main import main
from recent_calls.demo import DEMO_TENANTS, generate_calls
from recent_calls.ingest import bulk, telephony
from recent_calls.ingest.asterisk import read_asterisk
from recent_calls.ingest.connect import read_connect
from recent_calls.ingest.freeswitch import read_freeswitch
from recent_calls.ingest.sources import numbered
from recent_calls.storage import open_storage
from recent_calls.storage.columns import ROW_COLUMNS
from tests.calls import rows_of
from tests.support import FROZEN_NOW, run_capped, serve_demo
from tests.test_connect import record

TENANT = DEMO_TENANTS[0]
CALLS = 400
PHONE, DESTINATION = (
    ROW_COLUMNS.index(name) for name in ("caller_phone_number", "destination_number")
)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stored_rows(database: str, tenant: str) -> dict[str, tuple[Any, ...]]:
    """Every stored column of each of the tenant's calls, by callId."""
    storage = open_storage(database)
    try:
        p = storage.dialect.param
        found = storage._read(
            lambda run: run(
                f"SELECT {', '.join(ROW_COLUMNS)} FROM calls WHERE tenant_id = {p('t')}",
                {"t": tenant},
            )
        )
    finally:
        storage.close()
    return {row[0]: tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in found}


def expected_rows(calls: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {row[0]: tuple(row) for row in rows_of(*calls)}


def demo_files(fmt: str, folder: Path) -> str:
    written = cli("demo", "--as", fmt, "--calls", str(CALLS), "--now", FROZEN_NOW, str(folder))
    assert written.exit_code == 0, written.output
    return written.stdout.strip()


def import_as_printed(command: str, database: str, *extra: str) -> Result:
    """Run the import command `demo --as` printed, on the test's database."""
    words = command.split()
    assert words[:2] == ["recent-calls", "import"]
    return cli(*words[1:], "--database", database, *extra)


def demo_calls() -> list[dict[str, Any]]:
    end_ms = int(FROZEN_NOW)
    calls = generate_calls(TENANT.tenant_id, CALLS, seed=7, end_ms=end_ms, timezone=TENANT.timezone)
    return list(calls)


@pytest.fixture
def tenant_database(database: str) -> str:
    created = cli("tenant", "create", TENANT.tenant_id, "--region", "us", "--database", database)
    assert created.exit_code == 0, created.output
    return database


def test_asterisk_round_trip_stores_every_field_the_files_carry(
    tenant_database: str, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"  # the DuckDB file is in tmp_path itself
    command = demo_files("asterisk", tmp_path)
    result = import_as_printed(command, tenant_database, "--server", "pbx1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"imported {CALLS} calls into {TENANT.tenant_id}: {CALLS} new, 0 replaced, "
        "0 invalid lines skipped; 0 calls left open, 0 unknown events"
    )
    read = list(
        read_asterisk(
            numbered((tmp_path / "queue_log").read_text()),
            server="pbx1",
            cdr=numbered((tmp_path / "Master.csv").read_text()),
            timezone=TENANT.timezone,
        )
    )
    got = stored_rows(tenant_database, TENANT.tenant_id)
    assert got == expected_rows(read)
    # And they are the demo's calls: same count, same start (to the second), same caller.
    demo = demo_calls()
    by_uid = {call_id.rsplit(".", 1)[1]: row for call_id, row in got.items()}
    assert len(by_uid) == len(demo)
    for index, call in enumerate(demo):
        row = by_uid[str(index)]
        assert abs(row[1] - call["startTime"]) <= 1000, index
        number = call["callerPhoneNumber"] or call["destinationNumber"]
        assert number in (row[PHONE], row[DESTINATION]), index
    again = import_as_printed(command, tenant_database, "--server", "pbx1")
    assert f"0 new, {CALLS} replaced" in again.stdout


def test_a_queue_log_read_beside_the_import_stores_the_same_calls(
    tenant_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue_log past `PARALLEL_BYTES` is read in a process of its own, its calls joined
    and checked in the import's workers: what is stored is what the one-process read stores."""
    command = demo_files("asterisk", tmp_path / "files")
    serial = import_as_printed(command, tenant_database, "--server", "pbx1")
    assert serial.exit_code == 0, serial.output
    stored = stored_rows(tenant_database, TENANT.tenant_id)
    monkeypatch.setattr(telephony, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(bulk, "BATCH_ROWS", 64)  # several batches, through the workers
    beside = import_as_printed(command, tenant_database, "--server", "pbx1")
    assert beside.exit_code == 0, beside.output
    # Every call again, each the same: replaced by itself.
    assert f"{CALLS} new, 0 replaced" in serial.stdout
    assert beside.stdout == serial.stdout.replace(
        f"{CALLS} new, 0 replaced", f"0 new, {CALLS} replaced"
    )
    assert stored_rows(tenant_database, TENANT.tenant_id) == stored


def test_freeswitch_round_trip_acknowledges_agent_legs_and_stores_the_calls(
    tenant_database: str, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"  # the DuckDB file is in tmp_path itself
    command = demo_files("freeswitch", tmp_path)
    result = import_as_printed(command, tenant_database)
    assert result.exit_code == 0, result.output
    read = [
        call
        for path in sorted(tmp_path.iterdir())
        for call in read_freeswitch(path.read_bytes(), name=path.name)
    ]
    assert len(read) == CALLS
    assert f"imported {CALLS} calls" in result.stdout and "0 calls left open" in result.stdout
    assert "records not calls" in result.stdout  # the agent legs, acknowledged
    assert stored_rows(tenant_database, TENANT.tenant_id) == expected_rows(read)


def test_connect_round_trip_keeps_the_latest_update_of_each_contact(
    tenant_database: str, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"  # the DuckDB file is in tmp_path itself
    command = demo_files("connect", tmp_path)
    result = import_as_printed(command, tenant_database)
    assert result.exit_code == 0, result.output
    read = read_connect((tmp_path / "ctr.json").read_bytes())
    assert len(read) >= CALLS
    assert stored_rows(tenant_database, TENANT.tenant_id) == expected_rows(read)


CONTACTS = [f"{n}{n}{n}{n}0000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
EARLY, LATE = "2025-03-04T10:02:00Z", "2025-03-04T10:09:00Z"


def deliver(folder: Path, name: str, *records: dict[str, Any]) -> Path:
    """Contact records as Firehose writes them to S3: concatenated JSON in one object."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(item) for item in records))
    return path


def import_connect(database: str, path: Path) -> str:
    result = cli("import", "--tenant", TENANT.tenant_id, "--format", "connect", str(path),
                 "--database", database)  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.strip().split(": ", 1)[1]


def agents(database: str) -> dict[str, list[str]]:
    column = ROW_COLUMNS.index("agent_ids")
    return {
        call_id.split(":")[1]: row[column]
        for call_id, row in stored_rows(database, TENANT.tenant_id).items()
    }


def test_connect_re_imports_of_overlapping_deliveries_keep_the_latest_update(
    tenant_database: str, tmp_path: Path
) -> None:
    first, second, third, fourth = CONTACTS
    answered = {"LastUpdateTimestamp": LATE}  # the record after the agent's work was added
    queued = {"LastUpdateTimestamp": EARLY, "Agent": None}  # an earlier update of the same call
    newer = deliver(tmp_path, "newer.json", record(first, **answered), record(second, **answered))
    older = deliver(tmp_path, "older.json", record(first, **queued))
    assert import_connect(tenant_database, newer).startswith("2 new, 0 replaced, 0 invalid")
    # An older delivery imported later: the stored call is the newer one, and stays.
    assert import_connect(tenant_database, older).startswith(
        "0 new, 0 replaced, 1 kept (the stored version is newer), 0 invalid lines skipped"
    )
    assert agents(tenant_database) == {first: ["jdoe"], second: ["jdoe"]}
    # The same delivery again replaces (the same version): a re-import is idempotent.
    assert import_connect(tenant_database, newer).startswith("0 new, 2 replaced, 0 invalid")
    # The other order: the older first, then the newer replaces it.
    assert import_connect(
        tenant_database, deliver(tmp_path, "third-early.json", record(third, **queued))
    ).startswith("1 new, 0 replaced, 0 invalid")
    assert agents(tenant_database)[third] == []
    assert import_connect(
        tenant_database, deliver(tmp_path, "third-late.json", record(third, **answered))
    ).startswith("0 new, 1 replaced, 0 invalid")
    # One file of all kinds: older than stored, newer than stored, new, and a contact delivered
    # twice in it.
    mixed = deliver(
        tmp_path,
        "mixed.json",
        record(first, **queued),
        record(second, LastUpdateTimestamp="2025-03-04T10:10:00Z", Agent=None),
        record(fourth, **answered),
        record(fourth, **queued),
    )
    assert import_connect(tenant_database, mixed).startswith(
        "1 new, 1 replaced, 1 kept (the stored version is newer), 0 invalid lines skipped; "
        "1 records not calls"
    )
    assert agents(tenant_database) == {
        first: ["jdoe"],
        second: [],
        third: ["jdoe"],
        fourth: ["jdoe"],
    }


QUEUE_LOG = (
    "1710000000|1710000000.1|sales|NONE|ENTERQUEUE||7325550100|1\n"
    "1710000010|1710000000.1|sales|PJSIP/201|CONNECT|10|1710000000.2|2\n"
    "not a queue_log line\n"
    "1710000070|1710000000.1|sales|PJSIP/201|COMPLETECALLER|10|60|1\n"
    "1710000100|1710000100.5|sales|NONE|ENTERQUEUE||7325550111|1\n"
    "1710000101|1710000100.5|sales|NONE|SOMETHINGNEW|x\n"
)


def test_a_bad_line_rejects_the_whole_import_naming_it(
    tenant_database: str, tmp_path: Path
) -> None:
    log = tmp_path / "queue_log"
    log.write_text(QUEUE_LOG)
    rejected = import_as_printed(
        f"recent-calls import --tenant {TENANT.tenant_id} --format asterisk {log}", tenant_database
    )
    assert rejected.exit_code == 1
    assert "line 3: is not epoch|callid|queue|agent|EVENT|data..." in rejected.stderr
    assert "1 of 6 lines are invalid; nothing was imported" in rejected.stderr
    assert stored_rows(tenant_database, TENANT.tenant_id) == {}

    skipped = import_as_printed(
        f"recent-calls import --tenant {TENANT.tenant_id} --format asterisk {log}",
        tenant_database,
        "--skip-invalid",
        "--server",
        "pbx1",
    )
    assert skipped.exit_code == 0, skipped.output
    assert "skipped line 3:" in skipped.stderr
    assert skipped.stdout.strip().endswith(
        "1 new, 0 replaced, 1 invalid lines skipped; 1 calls left open, 1 unknown events"
    )
    assert list(stored_rows(tenant_database, TENANT.tenant_id)) == ["pbx1:1710000000.1"]


def test_a_call_the_typed_path_cannot_vouch_for_is_judged_by_the_json_rules(
    tenant_database: str, tmp_path: Path
) -> None:
    """A call whose callId (the server's name, then the queue_log's) is over 256 characters is
    not stored by the typed path: the JSON import's rule names it, and nothing is stored."""
    log = tmp_path / "queue_log"
    log.write_text(
        "1710000000|1.1|sales|NONE|ENTERQUEUE||7325550100|1\n"
        "1710000070|1.1|sales|NONE|ABANDON|1|1|70\n"
        f"1710000100|{'9' * 196}.2|sales|NONE|ENTERQUEUE||7325550111|1\n"
        f"1710000170|{'9' * 196}.2|sales|NONE|ABANDON|1|1|70\n"
    )
    command = f"recent-calls import --tenant {TENANT.tenant_id} --format asterisk {log}"
    server = "p" * 58  # with ':' and the second call's id, 257 characters
    rejected = import_as_printed(command, tenant_database, "--server", server)
    assert rejected.exit_code == 1
    assert "line 2: callId: String should have at most 256 characters" in rejected.stderr
    assert stored_rows(tenant_database, TENANT.tenant_id) == {}
    skipped = import_as_printed(command, tenant_database, "--server", server, "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    assert "1 new, 0 replaced, 1 invalid lines skipped" in skipped.stdout
    assert list(stored_rows(tenant_database, TENANT.tenant_id)) == [f"{server}:1.1"]


def test_bad_options_and_missing_files_are_named(tenant_database: str, tmp_path: Path) -> None:
    base = ["import", "--tenant", TENANT.tenant_id, "--database", tenant_database]
    missing = cli(*base, "--format", "freeswitch", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "nowhere does not exist" in missing.stderr
    cdr_for_json = cli(*base, "--cdr", str(tmp_path / "Master.csv"), str(tmp_path / "x"))
    assert cdr_for_json.exit_code == 2 and "--format asterisk" in cdr_for_json.stderr
    stdin = cli(*base, "--format", "connect", "-")
    assert stdin.exit_code == 2 and "not standard input" in stdin.stderr
    zone = tmp_path / "queue_log"
    zone.write_text(QUEUE_LOG)
    bad_zone_cdr = cli(
        *base, "--format", "asterisk", str(zone), "--cdr", str(zone), "--timezone", "Mars/Base"
    )
    assert bad_zone_cdr.exit_code == 1 and "Mars/Base" in bad_zone_cdr.stderr
    alone = cli("demo", "--as", "asterisk")
    assert alone.exit_code == 2 and "--as FORMAT and DIR go together" in alone.stderr


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)
@pytest.mark.parametrize("beside", [False, True], ids=["one-process", "reader-beside"])
def test_import_goes_through_the_server_that_holds_the_database(
    database: str, tmp_path: Path, beside: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if beside:  # the queue_log read in a process of its own, its calls made for the server
        monkeypatch.setattr(telephony, "PARALLEL_BYTES", 0)
    command = demo_files("asterisk", tmp_path / "ast")
    bad = tmp_path / "queue_log"
    bad.write_text(QUEUE_LOG)
    with serve_demo(database, False):
        created = cli(
            "tenant", "create", TENANT.tenant_id, "--region", "us", "--database", database
        )
        assert created.exit_code == 0, created.output
        result = import_as_printed(command, database, "--server", "pbx1")
        assert result.exit_code == 0, result.output
        assert f"imported {CALLS} calls" in result.stdout
        rejected = import_as_printed(
            f"recent-calls import --tenant {TENANT.tenant_id} --format asterisk {bad}", database
        )
        assert rejected.exit_code == 1 and "line 3:" in rejected.stderr
        # The server's import answer counts the calls it kept, and the CLI says so.
        newer = deliver(tmp_path, "newer.json", record(CONTACTS[0], LastUpdateTimestamp=LATE))
        older = deliver(tmp_path, "older.json", record(CONTACTS[0], LastUpdateTimestamp=EARLY))
        assert import_connect(database, newer).startswith("1 new, 0 replaced, 0 invalid")
        assert import_connect(database, older).startswith("0 new, 0 replaced, 1 kept")
    assert len(stored_rows(database, TENANT.tenant_id)) == CALLS + 1


def test_a_file_of_records_none_of_which_is_json_is_named_and_counted(
    tenant_database: str, tmp_path: Path
) -> None:
    records = tmp_path / "ctr.json"
    records.write_bytes(b'\xff\xfe{"a":1}\n')
    base = ["import", "--tenant", TENANT.tenant_id, "--database", tenant_database]
    rejected = cli(*base, "--format", "connect", str(records))
    assert rejected.exit_code == 1
    assert "ctr.json line 1: is not valid JSON" in rejected.stderr
    assert "1 of 1 lines are invalid; nothing was imported" in rejected.stderr


@pytest.mark.parametrize("fmt", ["asterisk", "freeswitch", "connect"])
def test_an_endless_source_is_refused_by_name_within_bounded_memory(
    tenant_database: str, fmt: str
) -> None:
    base = ["import", "--tenant", TENANT.tenant_id, "--database", tenant_database]
    result = run_capped([*base, "--format", fmt, "/dev/zero"])
    assert result.returncode == 1, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: /dev/zero ")


def test_demo_as_writes_its_files_beside_a_planted_link_never_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "queue_log").symlink_to(victim)
    result = cli("demo", "--as", "asterisk", str(folder), "--calls", "20")
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious"
    queue_log = folder / "queue_log"
    assert not queue_log.is_symlink() and "ENTERQUEUE" in queue_log.read_text()
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o600"}


def test_demo_as_freeswitch_writes_each_leg_beside_a_planted_link_never_through_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cdr"
    first = cli("demo", "--as", "freeswitch", str(folder), "--calls", "5", "--now", FROZEN_NOW)
    assert first.exit_code == 0, first.output
    leg = sorted(folder.iterdir())[0]
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    leg.unlink()
    leg.symlink_to(victim)
    again = cli("demo", "--as", "freeswitch", str(folder), "--calls", "5", "--now", FROZEN_NOW)
    assert again.exit_code == 0, again.output
    assert victim.read_text() == "precious"
    assert not leg.is_symlink() and '"variables"' in leg.read_text()
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o600"}
