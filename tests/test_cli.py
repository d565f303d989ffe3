"""The `recent-calls` command, on a database file and against a running server that holds it."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from recent_calls.cli.main import main
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from tests.calls import make_call
from tests.pg import fresh_database, migrated_template
from tests.support import FROZEN_NOW, LOOPBACK, LiveServer, Served, alive, children_of, serve_demo

START = 1710000000000


def cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Any:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    return result


def query(url: str, issued: dict[str, str], **fields: Any) -> httpx.Response:
    body = {"tenantId": issued["tenantId"], "page": 1, "rows": 50, "duration": "allhistory"}
    return LOOPBACK.post(
        f"{url}/customerexperience/v1/recentCallData/{issued['region']}",
        json={**body, **fields},
        headers={"8x8-apikey": issued["apiKey"], "token": issued["token"]},
    )


def jsonl(path: Path, calls: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(call) for call in calls) + b"\n")
    return path


def test_tenant_create_json_prints_exactly_its_keys(database: str) -> None:
    result = cli("tenant", "create", "acme", "--region", "us", "--json", "--database", database)
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert set(issued) == {"tenantId", "region", "apiKey", "token", "scopes"}
    assert (issued["tenantId"], issued["region"]) == ("acme", "us")
    assert issued["scopes"] == ["read", "push"]  # a tenant's first credential may do both


def test_the_database_comes_from_the_environment_when_not_given(database: str) -> None:
    env = {"RECENT_CALLS_DATABASE": database}
    assert cli("tenant", "create", "acme", "--region", "uk", env=env).exit_code == 0
    storage = open_storage(database)
    try:
        tenant = storage.get_tenant("acme")
        assert tenant is not None and tenant.region == "uk"
    finally:
        storage.close()
    listed = cli("credentials", "list", "acme", "--json", env=env)
    assert len(json.loads(listed.stdout)) == 1


def test_tenant_create_refuses_duplicates_and_bad_names(database: str) -> None:
    assert cli("tenant", "create", "acme", "--region", "us", "--database", database).exit_code == 0
    again = cli("tenant", "create", "acme", "--region", "us", "--database", database)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = cli("tenant", "create", "no spaces", "--region", "us", "--database", database)
    assert bad.exit_code == 1 and "tenantId" in bad.output


def test_tenant_create_and_set_keep_the_zone_the_console_shows_times_in(database: str) -> None:
    def zone() -> str | None:
        storage = open_storage(database)
        try:
            tenant = storage.get_tenant("britco")
            assert tenant is not None
            return tenant.timezone
        finally:
            storage.close()

    db = ("--database", database)
    created = cli(
        "tenant", "create", "britco", "--region", "uk", "--timezone", "Europe/London", *db
    )
    assert created.exit_code == 0, created.output
    assert zone() == "Europe/London"
    changed = cli("tenant", "set", "britco", "--timezone", "America/Los_Angeles", *db)
    assert changed.exit_code == 0 and "America/Los_Angeles" in changed.output
    assert zone() == "America/Los_Angeles"
    bad = cli("tenant", "set", "britco", "--timezone", "Pacific/Nowhere", *db)
    assert bad.exit_code == 1 and "timezone" in bad.output and "Pacific/Nowhere" in bad.output
    assert zone() == "America/Los_Angeles"
    missing = cli("tenant", "set", "nobody", "--timezone", "UTC", *db)
    assert missing.exit_code == 1 and "'nobody' does not exist" in missing.output
    nothing = cli("tenant", "set", "britco", *db)
    assert nothing.exit_code == 2 and "--timezone" in nothing.output
    assert cli("tenant", "set", "britco", "--timezone", "", *db).exit_code == 0
    assert zone() is None


def test_an_import_says_how_many_calls_it_kept_and_the_audit_keeps_the_count(
    database: str, tmp_path: Path
) -> None:
    cli("tenant", "create", "acme", "--region", "us", "--database", database)
    newer = [make_call(call_id, START, sourceVersion=2) for call_id in ("a", "b")]
    older = [make_call("a", START, sourceVersion=1), make_call("b", START, sourceVersion=3)]
    first = cli("import", "--tenant", "acme", str(jsonl(tmp_path / "newer.jsonl", newer)),
                "--database", database)  # fmt: skip
    # Nothing kept: the line says what it always said.
    assert first.stdout.strip() == (
        "imported 2 calls into acme: 2 new, 0 replaced, 0 invalid lines skipped"
    )
    second = cli("import", "--tenant", "acme", str(jsonl(tmp_path / "older.jsonl", older)),
                 "--database", database)  # fmt: skip
    assert second.stdout.strip() == (
        "imported 2 calls into acme: 0 new, 1 replaced, "
        "1 kept (the stored version is newer), 0 invalid lines skipped"
    )
    audit = json.loads(cli("audit", "--tenant", "acme", "--json", "--database", database).stdout)
    assert [entry["detail"] for entry in audit if entry["action"] == "calls.import"] == [
        "received=2 inserted=0 replaced=1 kept=1",
        "received=2 inserted=2 replaced=0",
    ]


def test_credentials_create_list_revoke(database: str) -> None:
    cli("tenant", "create", "acme", "--region", "us", "--database", database)
    created = cli(
        "credentials", "create", "acme", "--label", "ops", "--json", "--database", database
    )
    issued = json.loads(created.stdout)
    key_id = issued["apiKey"].split("_")[1]
    listed = json.loads(cli("credentials", "list", "acme", "--json", "--database", database).stdout)
    assert [item["label"] for item in listed] == ["", "ops"]
    assert issued["token"] not in json.dumps(listed) and issued["apiKey"] not in json.dumps(listed)
    assert cli("credentials", "revoke", "acme", key_id, "--database", database).exit_code == 0
    listed = json.loads(cli("credentials", "list", "acme", "--json", "--database", database).stdout)
    assert [item["revokedMs"] is not None for item in listed] == [False, True]
    missing = cli("credentials", "revoke", "acme", "nope", "--database", database)
    assert missing.exit_code == 1


def test_import_reads_a_file_or_stdin_and_rejects_bad_files_whole(
    database: str, tmp_path: Path
) -> None:
    cli("tenant", "create", "acme", "--region", "us", "--database", database)
    good = jsonl(tmp_path / "good.jsonl", [make_call(f"c{i}", START + i) for i in range(3)])
    result = cli("import", "--tenant", "acme", str(good), "--database", database)
    assert result.exit_code == 0 and "imported 3 calls" in result.stdout
    piped = cli("import", "--tenant", "acme", "-", "--database", database, stdin=good.read_bytes())
    assert "0 new, 3 replaced" in piped.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good.read_bytes() + b"{broken\n")
    rejected = cli("import", "--tenant", "acme", str(bad), "--database", database)
    assert rejected.exit_code == 1
    assert "line 4: is not valid JSON" in rejected.stderr


def test_demo_json_prints_one_credential_per_demo_tenant(database: str) -> None:
    result = cli("demo", "--calls", "50", "--json", "--now", FROZEN_NOW, "--database", database)
    assert result.exit_code == 0, result.output
    issued = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(i["tenantId"], i["region"]) for i in issued} == {
        ("acmecorp01", "us"),
        ("britco01", "uk"),
    }
    assert all(set(i) == {"tenantId", "region", "apiKey", "token", "scopes"} for i in issued)
    # Per tenant, a read-only credential (the console's) and a push-only one.
    assert sorted((i["tenantId"], i["scopes"]) for i in issued) == [
        ("acmecorp01", ["push"]),
        ("acmecorp01", ["read"]),
        ("britco01", ["push"]),
        ("britco01", ["read"]),
    ]


@pytest.fixture
def served(database: str) -> Iterator[Served]:
    with serve_demo(database) as running:
        yield running


def run_curl(command: str) -> bytes:
    """Run a pasted curl command; where curl is not installed, replay its words with httpx."""
    if shutil.which("curl"):
        return subprocess.run(["bash", "-c", command], capture_output=True, check=True).stdout
    words = shlex.split(command)
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    url = next(w for w in words if w.startswith("http"))
    return LOOPBACK.post(url, headers=headers, content=words[words.index("-d") + 1]).content


def test_the_banner_curl_works_as_pasted(served: Served) -> None:
    curls = [line.strip() for line in served.banner if line.strip().startswith("curl ")]
    reads = [command for command in curls if "/recentCallData/" in command]
    pushes = [command for command in curls if "/calls/" in command]
    assert len(reads) == len(pushes) == 2 and len(curls) == 4
    for command in reads:
        document = json.loads(run_curl(command))
        assert document["hits"] == 300 and len(document["data"]) == 5
    for command in pushes:
        assert json.loads(run_curl(command)) == {"received": 0, "inserted": 0, "replaced": 0}
    # The console's credential only reads: its key pushes nothing (403 naming the scope).
    read_key = reads[0].split("8x8-apikey: ")[1].split("'")[0]
    push_key = pushes[0].split("8x8-apikey: ")[1].split("'")[0]
    refused = json.loads(
        run_curl(
            pushes[0]
            .replace(push_key, read_key)
            .replace(
                pushes[0].split("token: ")[1].split("'")[0],
                reads[0].split("token: ")[1].split("'")[0],
            )
        )
    )
    assert refused["status"] == 403 and "'push' scope" in refused["detail"]


def test_admin_commands_go_through_the_server_that_holds_the_database(
    served: Served, tmp_path: Path
) -> None:
    database = ["--database", served.database]
    created = cli("tenant", "create", "live", "--region", "uk", "--json", *database)
    assert created.exit_code == 0, created.output
    issued = json.loads(created.stdout)
    assert query(served.url, issued).json()["hits"] == 0

    calls = jsonl(tmp_path / "calls.jsonl", [make_call(f"c{i}", START + i) for i in range(4)])
    imported = cli("import", "--tenant", "live", str(calls), *database)
    assert imported.exit_code == 0 and "imported 4 calls" in imported.stdout
    assert query(served.url, issued).json()["hits"] == 4

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{}\n" + calls.read_bytes())
    rejected = cli("import", "--tenant", "live", str(bad), *database)
    assert rejected.exit_code == 1 and "line 1" in rejected.stderr
    assert query(served.url, issued).json()["hits"] == 4

    key_id = issued["apiKey"].split("_")[1]
    # The CLI shares the servers' clock (frozen here), as every process on one database must.
    revoked = cli(
        "credentials", "revoke", "live", key_id, *database, env={"RECENT_CALLS_NOW": FROZEN_NOW}
    )
    assert revoked.exit_code == 0
    if served.database.startswith("postgresql://"):
        # The CLI wrote to the shared database, not through the server: the server's memory
        # of the credential may last RECENT_CALLS_AUTH_CACHE_S (default 5 s), no longer.
        deadline = time.monotonic() + Settings().auth_cache_s + 2
        while query(served.url, issued).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert query(served.url, issued).status_code == 401


def test_the_control_file_is_private_and_removed_on_a_clean_shutdown(duckdb_path: str) -> None:
    with serve_demo(duckdb_path) as served:
        control = Path(f"{served.database}.control.json")
        assert control.stat().st_mode & 0o077 == 0
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=20) == 0
        assert not control.exists()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with fresh_database(template=migrated_template()) as url:
        yield url


def test_two_servers_over_one_postgresql_database_are_interchangeable(
    postgres_database: str,
) -> None:
    """The API keeps no state of its own: either replica answers for every write of the other."""
    with serve_demo(postgres_database) as first, serve_demo(postgres_database, False) as second:
        created = cli("tenant", "create", "live", "--region", "us", "--json",
                      "--database", postgres_database)  # fmt: skip
        issued = json.loads(created.stdout)
        headers = {"8x8-apikey": issued["apiKey"], "token": issued["token"]}
        batch = {"tenantId": "live", "calls": [make_call(f"c{i}", START + i) for i in range(7)]}
        pushed = LOOPBACK.post(f"{first.url}/customerexperience/v1/calls/us", json=batch,
                            headers=headers)  # fmt: skip
        assert pushed.json() == {"received": 7, "inserted": 7, "replaced": 0}
        assert query(second.url, issued).json()["hits"] == 7

        demo_curl = next(line.strip() for line in first.banner if "curl " in line)
        demo = json.loads(run_curl(demo_curl.replace(first.url, second.url)))
        assert demo["hits"] == 300
        for page in (1, 2, 3):
            body = {"page": page, "rows": 3, "sortColumn": "callerName", "sortOrder": "desc"}
            assert (
                query(first.url, issued, **body).json() == query(second.url, issued, **body).json()
            )


def test_workers_share_one_port_and_die_with_their_parent(postgres_database: str) -> None:
    with serve_demo(postgres_database, True, "--workers", "2") as served:
        # Forked copies of the parent (the demo's import also leaves its forkserver there).
        own = Path(f"/proc/{served.process.pid}/cmdline").read_bytes()
        workers = {
            pid
            for pid in children_of(served.process.pid)
            if Path(f"/proc/{pid}/cmdline").read_bytes() == own
        }
        assert len(workers) == 2
        curl = next(line.strip() for line in served.banner if "curl " in line)
        for _ in range(20):
            assert json.loads(run_curl(curl))["hits"] == 300
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers)


def test_workers_need_a_server_database(duckdb_path: str) -> None:
    result = cli("serve", "--workers", "2", "--port", "0", "--database", duckdb_path)
    assert result.exit_code == 2
    assert "--workers needs a server database" in result.output


def _client_env(url: str, credential: Any) -> dict[str, str]:
    return {
        "RECENT_CALLS_BASE_URL": url,
        "RECENT_CALLS_API_KEY": credential.api_key,
        "RECENT_CALLS_TOKEN": credential.token,
    }


def test_cli_errors_carry_the_servers_field_messages(server: LiveServer) -> None:
    credential = server.tenant("acme")
    args = ["export", "--tenant", "acme", "-o", "-", "--format", "jsonl"]
    result = CliRunner().invoke(
        main,
        [*args, "--duration", "today", "--call-duration", "60,-1"],
        env=_client_env(server.url, credential),
    )
    assert result.exit_code == 1
    said = server.post(
        {"tenantId": "acme", "page": 1, "rows": 1, "duration": "today", "callDuration": "60,-1"},
        credential,
    ).json()["errors"]
    assert [e["field"] for e in said] == ["callDuration"]
    assert f"callDuration: {said[0]['message']}\n" in result.stderr


def test_missing_credentials_are_named_as_the_cli_takes_them() -> None:
    args = ["export", "--tenant", "acme", "-o", "-", "--format", "jsonl"]
    result = CliRunner().invoke(main, args, env={"RECENT_CALLS_API_KEY": ""})
    assert result.exit_code == 2
    assert "give --api-key and --token, or set RECENT_CALLS_API_KEY" in result.stderr
    assert "api_key" not in result.stderr


def test_a_rejected_import_says_how_to_store_the_valid_lines(database: str) -> None:
    cli("tenant", "create", "acme", "--region", "us", "--database", database)
    bad = orjson.dumps(make_call("a", START, callDuration="-5", transferCount="x"))
    good = orjson.dumps(make_call("b", START))
    source = b"\n".join([bad, good, orjson.dumps(make_call("c", START, callDuration="-1"))])
    result = CliRunner().invoke(
        main, ["import", "--tenant", "acme", "--database", database, "-"], input=source
    )
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "Error: 2 of 3 lines are invalid; nothing was imported; add --skip-invalid to store "
        "the valid lines and report the rest\n"
    )


def test_the_database_can_come_from_a_file_so_its_password_stays_out_of_ps(
    database: str, tmp_path: Path
) -> None:
    secret = tmp_path / "database.url"
    secret.write_text(database + "\n# anything after the first line is ignored\n")
    created = cli("tenant", "create", "acme", "--region", "us", "--database-file", str(secret))
    assert created.exit_code == 0, created.output
    listed = cli("credentials", "list", "acme", "--json", env={"RECENT_CALLS_DATABASE": database})
    assert len(json.loads(listed.stdout)) == 1
    from_env = cli("credentials", "list", "acme", env={"RECENT_CALLS_DATABASE_FILE": str(secret)})
    assert from_env.exit_code == 0 and from_env.stdout.count("live") == 1
    both = cli(
        "credentials", "list", "acme", "--database", database, "--database-file", str(secret)
    )
    assert both.exit_code == 2 and "give --database or --database-file, not both" in both.stderr
    missing = cli("credentials", "list", "acme", "--database-file", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_errors_give_the_command_that_fixes_them(database: str) -> None:
    line = orjson.dumps(make_call("a", START))
    result = CliRunner().invoke(
        main, ["import", "--tenant", "nobody", "--database", database, "-"], input=line
    )
    assert result.exit_code == 1
    assert "create it first with: recent-calls tenant create nobody --region us|uk" in (
        result.stderr
    )
    listed = CliRunner().invoke(main, ["credentials", "list", "nobody", "--database", database])
    assert "create it with: recent-calls tenant create nobody --region us|uk" in listed.stderr
    cli("tenant", "create", "acme", "--region", "us", "--database", database)
    revoked = CliRunner().invoke(
        main, ["credentials", "revoke", "acme", "0000beef", "--database", database]
    )
    assert revoked.exit_code == 1
    assert "no live credential '0000beef'; its credentials: recent-calls credentials list acme" in (
        revoked.stderr
    )
