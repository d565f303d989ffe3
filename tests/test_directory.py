"""The directory of display names: parsing, storage, the endpoint, the admin API, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recent_calls.admin.local import LocalAdmin
from recent_calls.cli.main import main
from recent_calls.demo import DEMO_TENANTS
from recent_calls.errors import InvalidRequest
from recent_calls.query.directory import Entry, parse_csv, parse_json, to_csv
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.support import FROZEN_NOW, LOOPBACK, LiveServer, ServerFactory, serve_demo

DIRECTORY = "/customerexperience/v1/recentCallDirectory"
GOOD = (
    "kind,id,name\n"
    "agent,agA,maria Lopez\n"
    "agent,agB,Adam Brown\n"
    "queue,100,Billing\n"
    'group,10,"Tier 2, nights"\n'
    "channel,+18005550100,Main line\n"
)


def errors_of(source: bytes | str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRequest) as caught:
        parse_csv(source)
    return [(e.field, e.message) for e in caught.value.errors]


def test_a_csv_file_gives_its_entries() -> None:
    assert parse_csv(GOOD.encode()) == [
        Entry("agent", "agA", "maria Lopez"),
        Entry("agent", "agB", "Adam Brown"),
        Entry("queue", "100", "Billing"),
        Entry("group", "10", "Tier 2, nights"),
        Entry("channel", "+18005550100", "Main line"),
    ]
    # Columns in any order, a byte-order mark, CRLF, blank lines and spaces around values.
    text = "\ufeffName , KIND,id\r\n\r\n  Billing  ,Queue, 100 \r\n"
    assert parse_csv(text.encode()) == [Entry("queue", "100", "Billing")]


def test_a_file_with_bad_lines_is_rejected_naming_every_one() -> None:
    source = (
        "kind,id,name\n"
        "agent,agA,Maria\n"
        "robot,r1,Robo\n"  # line 3: unknown kind
        "queue,,Billing\n"  # line 4: empty id
        f"queue,101,{'x' * 257}\n"  # line 5: too long
        "queue,102,Bad\x00name\n"  # line 6: NUL
        "agent,agA,Maria again\n"  # line 7: named twice
        "queue,103\n"  # line 8: two fields
        "queue,104,Fine\n"
    )
    found = errors_of(source)
    assert [field for field, _ in found] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8)]
    messages = dict(found)
    assert "'robot' is not known" in messages["line 3"] and "agent" in messages["line 3"]
    assert "id is empty" in messages["line 4"]
    assert "257 characters" in messages["line 5"] and "256" in messages["line 5"]
    assert "NUL" in messages["line 6"]
    assert "line 2" in messages["line 7"]
    assert "2 fields" in messages["line 8"]


def test_a_bad_header_or_encoding_is_named() -> None:
    assert errors_of("id,name\nagA,Maria\n")[0][0] == "line 1"
    assert errors_of(b"kind,id,name\nagent,agA,Mar\xffia\n") == [("line 2", "is not UTF-8 text")]
    assert errors_of(b"")[0][0] == "line 1"


def test_json_entries_are_checked_the_same_way() -> None:
    good = [{"kind": "agent", "id": "agA", "name": "Maria"}]
    assert parse_json(good) == [Entry("agent", "agA", "Maria")]
    with pytest.raises(InvalidRequest) as caught:
        parse_json([*good, {"kind": "agent", "id": "agB", "name": "Bad \ud800"}, 7, {"id": 3}])
    fields = {e.field: e.message for e in caught.value.errors}
    assert list(fields) == ["entry 2", "entry 3", "entry 4"]
    assert "lone surrogate" in fields["entry 2"]
    assert fields["entry 4"].startswith("kind is missing")
    assert (
        "id must be text, not int" in fields["entry 4"] and "name is missing" in fields["entry 4"]
    )
    with pytest.raises(InvalidRequest):
        parse_json({"kind": "agent"})


def test_csv_export_reads_back_as_the_same_directory() -> None:
    entries = parse_csv(GOOD)
    text = to_csv(entries)
    assert text.splitlines()[:3] == [
        "kind,id,name",
        "agent,agB,Adam Brown",
        "agent,agA,maria Lopez",
    ]
    assert sorted(parse_csv(text), key=repr) == sorted(entries, key=repr)


def test_replacing_is_whole_atomic_and_per_tenant(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    storage.create_tenant("other", "us")
    storage.replace_directory("other", [Entry("agent", "agA", "Someone Else")])
    assert storage.replace_directory("acme", parse_csv(GOOD)) == 5
    assert len(storage.directory("acme")) == 5

    # A second import replaces the whole directory: entries it lacks are gone.
    storage.replace_directory("acme", [Entry("queue", "100", "Billing EU")])
    assert storage.directory("acme") == [Entry("queue", "100", "Billing EU")]

    # A replacement that fails half-way (a key twice, past validation) changes nothing.
    twice = [Entry("agent", f"ag{n}", "A") for n in range(700)] + [Entry("agent", "ag1", "B")]
    with pytest.raises(Exception):  # noqa: B017 - each engine has its own constraint error
        storage.replace_directory("acme", twice)
    assert storage.directory("acme") == [Entry("queue", "100", "Billing EU")]
    assert storage.directory("other") == [Entry("agent", "agA", "Someone Else")]

    # Ids are exact: case, spaces inside and non-ASCII text are kept.
    odd = [
        Entry("agent", "AGa", "Zoë"),
        Entry("agent", "aga", "Ana María"),
        Entry("channel", "a b", "€"),
    ]
    storage.replace_directory("acme", odd)
    assert sorted(storage.directory("acme"), key=repr) == sorted(odd, key=repr)


def post_directory(server: LiveServer, credential: Any, body: Any, region: str = "us") -> Any:
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    return server.http.post(f"{DIRECTORY}/{region}", headers=headers, json=body)


def test_the_endpoint_serves_names_sorted_and_only_the_tenants_own(server: LiveServer) -> None:
    acme = server.tenant("acme", calls=[make_call("c1", 1)])
    other = server.tenant("other")
    server.storage.replace_directory("acme", parse_csv(GOOD))
    server.storage.replace_directory("other", [Entry("queue", "100", "Not yours")])
    response = post_directory(server, acme, {"tenantId": "acme"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tenantId": "acme",
        "agents": [{"id": "agB", "name": "Adam Brown"}, {"id": "agA", "name": "maria Lopez"}],
        "queues": [{"id": "100", "name": "Billing"}],
        "groups": [{"id": "10", "name": "Tier 2, nights"}],
        "channels": [{"id": "+18005550100", "name": "Main line"}],
    }
    empty = post_directory(server, other, {"tenantId": "other"}).json()
    assert empty["queues"] == [{"id": "100", "name": "Not yours"}] and empty["agents"] == []
    # recentCallData stays byte-faithful: ids only.
    data = server.post({"tenantId": "acme", "duration": "allhistory", "page": 1, "rows": 5}, acme)
    assert data.json()["data"][0]["agentId"] == "agA" and "Maria" not in data.text


def test_the_endpoint_checks_in_the_order_of_recent_call_data(server: LiveServer) -> None:
    acme = server.tenant("acme")
    server.tenant("other")
    url = f"{DIRECTORY}/us"
    assert server.http.post(f"{DIRECTORY}/eu", json={"tenantId": "acme"}).status_code == 404
    assert server.http.post(url, json={"tenantId": "acme"}).status_code == 401
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    assert server.http.post(url, headers=headers, content=b"{").status_code == 415
    response = server.http.post(url, headers=headers, json={"tenantId": ""})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "tenantId"
    assert post_directory(server, acme, {"tenantId": "other"}).status_code == 403
    assert post_directory(server, acme, {"tenantId": "acme"}, region="uk").status_code == 403


def test_the_admin_api_puts_csv_or_json_and_gets_it_back(make_server: ServerFactory) -> None:
    server = make_server(admin_token="admin-token-for-tests")
    server.tenant("acme")
    admin = {"Authorization": "Bearer admin-token-for-tests"}
    path = "/admin/v1/tenants/acme/directory"
    put = server.http.put(path, headers={**admin, "Content-Type": "text/csv"}, content=GOOD)
    assert put.status_code == 200 and put.json() == {"entries": 5}
    listed = server.http.get(path, headers=admin)
    assert listed.json()[0] == {"kind": "agent", "id": "agB", "name": "Adam Brown"}
    as_csv = server.http.get(path, headers={**admin, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == to_csv(parse_csv(GOOD))

    body = [{"kind": "queue", "id": "100", "name": "Billing"}]
    assert server.http.put(path, headers=admin, json=body).json() == {"entries": 1}
    assert server.http.get(path, headers=admin).json() == [{"kind": "queue", **body[0]}]

    bad = server.http.put(path, headers=admin, json=[{"kind": "queue", "id": "", "name": "x"}])
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "entry 1"
    assert len(server.http.get(path, headers=admin).json()) == 1  # kept whole
    missing = server.http.put("/admin/v1/tenants/nobody/directory", headers=admin, json=body)
    assert missing.status_code == 404
    assert server.http.get(path).status_code == 401
    assert server.storage.list_audit("acme")[0].action == "directory.replace"


def cli(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_the_cli_imports_and_exports_and_rejects_bad_files_whole(
    database: str, tmp_path: Path
) -> None:
    assert cli("tenant", "create", "acme", "--region", "us", "--database", database).exit_code == 0
    source = tmp_path / "names.csv"
    source.write_text(GOOD)
    imported = cli("directory", "import", "--tenant", "acme", str(source), "--database", database)
    assert imported.exit_code == 0, imported.output
    assert "imported 5 names" in imported.stdout
    exported = cli("directory", "export", "--tenant", "acme", "--database", database)
    assert exported.exit_code == 0 and parse_csv(exported.stdout) == parse_csv(
        to_csv(parse_csv(GOOD))
    )

    bad = b"kind,id,name\nagent,agA,Maria\nqueue,,x\nrobot,1,y\n"
    rejected = cli(
        "directory", "import", "--tenant", "acme", "-", "--database", database, stdin=bad
    )
    assert rejected.exit_code == 1
    assert "line 3:" in rejected.stderr and "line 4:" in rejected.stderr
    again = cli("directory", "export", "--tenant", "acme", "--database", database)
    assert again.stdout == exported.stdout  # nothing of the bad file was stored

    unknown = cli("directory", "export", "--tenant", "nobody", "--database", database)
    assert unknown.exit_code == 1 and "nobody" in unknown.stderr


def test_the_demo_names_every_id_its_calls_use(storage: Storage) -> None:
    admin = LocalAdmin(storage, lambda: int(FROZEN_NOW))
    admin.seed_demo(400, 7, replace=True)
    for tenant in DEMO_TENANTS:
        named = {(e.kind, e.id): e.name for e in storage.directory(tenant.tenant_id)}
        used = storage.directory_ids(tenant.tenant_id)
        wanted = {(kind, entry_id) for kind, ids in used.items() for entry_id, _ in ids}
        assert set(named) == wanted and all(used.values())
        agents = [name for (kind, _), name in named.items() if kind == "agent"]
        assert len(set(agents)) == len(agents)  # every agent has a name of their own
        assert all(" " in name for name in agents)
    first = storage.directory("acmecorp01")
    admin.seed_demo(400, 7, replace=True)
    assert storage.directory("acmecorp01") == first  # the seed decides the names


def test_directory_commands_go_through_the_server_holding_the_database(
    duckdb_path: str, tmp_path: Path
) -> None:
    source = tmp_path / "names.csv"
    source.write_text("kind,id,name\nqueue,100,Billing\n")
    with serve_demo(duckdb_path) as served:
        database = ["--database", served.database]
        demo_names = cli("directory", "export", "--tenant", "acmecorp01", *database)
        assert demo_names.exit_code == 0, demo_names.output
        kinds = {line.split(",")[0] for line in demo_names.stdout.splitlines()[1:]}
        assert kinds == {"agent", "queue", "group", "channel"}

        imported = cli("directory", "import", "--tenant", "acmecorp01", str(source), *database)
        assert imported.exit_code == 0, imported.output
        exported = cli("directory", "export", "--tenant", "acmecorp01", *database)
        assert exported.stdout == "kind,id,name\nqueue,100,Billing\n"
        rejected = cli("directory", "import", "--tenant", "acmecorp01", "-", *database,
                       stdin=b"kind,id,name\nqueue,,x\n")  # fmt: skip
        assert rejected.exit_code == 1 and "line 2" in rejected.stderr

        # The demo's banner credential reads the new names through the endpoint.
        banner = "\n".join(served.banner)
        key = banner.split("8x8-apikey: ")[1].split()[0].strip("'\"")
        token = banner.split("token: ")[1].split()[0].strip("'\"")
        response = LOOPBACK.post(
            f"{served.url}{DIRECTORY}/us",
            headers={"8x8-apikey": key, "token": token},
            json={"tenantId": "acmecorp01"},
        )
        assert response.status_code == 200, response.text
        assert json.loads(response.text)["queues"] == [{"id": "100", "name": "Billing"}]


def test_the_csv_export_is_formula_safe_and_reads_back_exactly() -> None:
    texts = ['=HYPERLINK("http://x","y")', "+18005550100", "-3", "@SUM(A1)", "'=quoted", "Plain"]
    entries = [Entry("channel", text, f"name {text}") for text in texts]
    entries += [Entry("agent", f"a{n}", text) for n, text in enumerate(texts)]
    written = to_csv(entries)
    cells = [cell for line in written.splitlines()[1:] for cell in line.split(",")[1:]]
    for cell in cells:
        assert not cell.lstrip('"').startswith(("=", "+", "-", "@")), cell
    assert "'=HYPERLINK" in written and "''=quoted" in written and ",Plain\n" in written
    assert sorted(parse_csv(written.encode()), key=str) == sorted(entries, key=str)
