"""Erasure of one caller: every call of theirs deleted, counted, audited without the number."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner

from recent_calls.admin.local import LocalAdmin
from recent_calls.cli.main import main
from recent_calls.errors import InvalidRequest, NotFound
from recent_calls.ingest.bulk import import_lines
from recent_calls.query.request import parse_request
from recent_calls.storage.base import Storage
from tests.calls import bound, make_call, rows_of
from tests.endpoints import ADMIN
from tests.support import FROZEN_NOW, LOOPBACK, InProcessHTTP, add_tenant, serve_demo

NOW = int(FROZEN_NOW)
NUMBER = "7325550100"
# The same number as people write it, and numbers that only contain it or differ by one digit.
SAME = ["7325550100", "732-555-0100", "(732) 555 0100", "732.555.0100"]
OTHERS = ["17325550100", "732555010", "7325550101", "0100"]


def calls(prefix: str, numbers: list[str], name: str = "Pat Caller") -> list[dict[str, Any]]:
    return [
        make_call(f"{prefix}{i}", NOW - 1000 * (i + 1), callerNumber=n, callerName=name)
        for i, n in enumerate(numbers)
    ]


def hits(storage: Storage, tenant: str) -> int:
    query = parse_request({"tenantId": tenant, "page": 1, "rows": 1, "duration": "allhistory"}, 0)
    return storage.search(bound(tenant), query).hits


def admin(storage: Storage) -> LocalAdmin:
    return LocalAdmin(storage, lambda: NOW, actor="cli:dpo")


def test_erasure_deletes_every_call_of_the_number_by_its_digits_and_nothing_else(
    storage: Storage,
) -> None:
    add_tenant(storage, "t", "us", calls("s", SAME) + calls("o", OTHERS))
    add_tenant(storage, "u", "us", calls("s", SAME))  # another tenant's caller: untouched
    dry = admin(storage).erase("t", "+1 732 555 0100"[3:], None, dry_run=True)
    assert dry["calls"] == 4 and dry["erased"] == 0
    assert [c["callId"] for c in dry["first"]] == ["s0", "s1", "s2", "s3"]
    assert storage.count_calls("t") == 8  # a dry run deletes nothing
    done = admin(storage).erase("t", "(732) 555-0100", None, dry_run=False)
    assert (done["calls"], done["erased"], done["first"]) == (4, 4, [])
    assert sorted(c for c, *_ in storage.caller_calls("t", None, "pat caller", 50)[1]) == [
        f"o{i}" for i in range(4)
    ]
    assert hits(storage, "t") == 4 and storage.count_calls("u") == 4


def test_the_audit_keeps_a_salted_hash_never_the_number(storage: Storage) -> None:
    add_tenant(storage, "t", "us", calls("s", SAME))
    first = admin(storage).erase("t", NUMBER, None, dry_run=False)
    again = admin(storage).erase("t", "732-555-0100", None, dry_run=False)
    assert (first["erased"], again["erased"]) == (4, 0)
    entries = [e for e in storage.list_audit("t") if e.action == "caller.erase"]
    assert [e.actor for e in entries] == ["cli:dpo", "cli:dpo"]
    assert [e.detail.split()[0] for e in entries] == ["erased=0", "erased=4"]
    hashes = {e.detail.split("caller=")[1] for e in entries}
    assert len(hashes) == 1  # the second request for the same number is recognisable
    rows = " ".join(f"{e.detail} {e.key_id} {e.actor}" for e in storage.list_audit())
    for written in (NUMBER, "555", "0100"):
        assert written not in rows
    other = admin(storage).erase("t", "7325550101", None, dry_run=False)
    assert other["erased"] == 0
    assert storage.list_audit("t", 1)[0].detail.split("caller=")[1] not in hashes


def test_erasure_by_name_folds_case_and_accents_and_matches_whole(storage: Storage) -> None:
    add_tenant(storage, "t", "us", calls("a", ["1", "2"], "José Núñez")
               + calls("b", ["3"], "José Núñez Jr") + calls("c", ["4"], "JOSÉ NÚÑEZ"))  # fmt: skip
    assert admin(storage).erase("t", None, "josé núñez", dry_run=False)["erased"] == 3
    assert [c for c, *_ in storage.caller_calls("t", None, "josé núñez jr", 5)[1]] == ["b0"]


def test_erasure_refuses_what_names_no_caller(storage: Storage) -> None:
    add_tenant(storage, "t", "us", calls("s", SAME))
    for number, name in ((None, None), ("---", None), (None, "  ")):
        with pytest.raises(InvalidRequest):
            admin(storage).erase("t", number, name, dry_run=False)
    with pytest.raises(NotFound):
        admin(storage).erase("nosuch", NUMBER, None, dry_run=False)
    assert storage.count_calls("t") == 4


def test_erasure_racing_pushes_leaves_only_the_calls_pushed_after_it(storage: Storage) -> None:
    """Pushes of the caller's calls while the erasure runs in small batches: every call is
    either erased or stored whole afterwards, and the counts agree with the rows."""
    add_tenant(storage, "t", "us", [make_call(f"old{i}", NOW - i, callerNumber=NUMBER)
                                    for i in range(3000)])  # fmt: skip
    pushed: list[int] = []

    def push(worker: int) -> None:
        for n in range(10):
            batch = [make_call(f"p{worker}-{n}-{i}", NOW - i, callerNumber="732 555 0100")
                     for i in range(20)]  # fmt: skip
            pushed.append(storage.upsert_calls("t", rows_of(*batch)).inserted)

    threads = [threading.Thread(target=push, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    erased = storage.erase_caller("t", NUMBER, None, batch=101)
    for thread in threads:
        thread.join()
    left = storage.count_calls("t")
    assert sum(pushed) == 600 and erased + left == 3000 + 600 and erased >= 3000
    assert hits(storage, "t") == left == storage.caller_calls("t", NUMBER, None)[0]
    assert storage.erase_caller("t", NUMBER, None) == left and hits(storage, "t") == 0


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"RECENT_CALLS_NOW": FROZEN_NOW})


def test_the_cli_erases_with_a_dry_run_first(database: str, storage: Storage) -> None:
    add_tenant(storage, "acme", "us", calls("s", SAME) + calls("o", OTHERS))
    storage.close()
    dry = cli("erase", "--tenant", "acme", "--number", "732-555-0100", "--dry-run",
              "--database", database)  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[0] == "4 calls would be erased from acme; the newest:"
    assert "  s0  Pat Caller  7325550100" in dry.stdout
    done = cli("erase", "--tenant", "acme", "--number", "732-555-0100", "--json",
               "--database", database)  # fmt: skip
    assert json.loads(done.stdout)["erased"] == 4
    assert cli("erase", "--tenant", "acme", "--database", database).exit_code == 2
    audit = cli("audit", "--tenant", "acme", "--database", database).stdout
    assert "caller.erase  acme  erased=4 caller=" in audit and "7325550100" not in audit


def test_the_admin_api_erases(storage: Storage, http: InProcessHTTP) -> None:
    add_tenant(storage, "acme", "us", calls("s", SAME))
    path = "/admin/v1/tenants/acme/erase"
    dry = http.post(path, json={"number": NUMBER, "dryRun": True}, headers=ADMIN)
    assert dry.status_code == 200 and dry.json()["calls"] == 4
    bad = http.post(path, json={"number": "abc"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "number"
    done = http.post(path, json={"number": NUMBER}, headers=ADMIN)
    assert done.json()["erased"] == 4 and storage.count_calls("acme") == 0
    assert http.post(path, json={"number": NUMBER}, headers={}).status_code == 401


def test_erasure_racing_imports_leaves_no_call_half_there(storage: Storage) -> None:
    add_tenant(storage, "t", "us", calls("s", SAME * 500))

    def load(worker: int) -> None:
        for n in range(5):
            batch = [make_call(f"i{worker}-{n}-{i}", NOW - i, callerNumber=SAME[i % 4])
                     for i in range(200)]  # fmt: skip
            import_lines(storage, "t", batch, workers=1)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    first = storage.erase_caller("t", NUMBER, None, batch=97)
    for thread in threads:
        thread.join()
    left = storage.count_calls("t")
    assert first + left == 2000 + 2000 and hits(storage, "t") == left
    assert storage.erase_caller("t", NUMBER, None) == left
    assert storage.count_calls("t") == hits(storage, "t") == 0


def test_retention_and_erasure_go_through_the_server_that_holds_the_database(
    duckdb_path: str,
) -> None:
    """While `serve` holds the embedded database, the commands reach it through its admin API."""
    with serve_demo(duckdb_path) as served:
        text = "\n".join(served.banner)
        push_key = text.split("push: sending calls\n  8x8-apikey: ")[1].split()[0]
        push_token = (
            text.split("push: sending calls\n  8x8-apikey: ")[1].split("token:")[1].split()[0]
        )
        pushed = LOOPBACK.post(f"{served.url}/customerexperience/v1/calls/us",
            json={"tenantId": "acmecorp01",
                  "calls": [make_call(f"x{i}", NOW - i, callerNumber="+1 732 555 0100")
                            for i in range(3)]},
            headers={"8x8-apikey": push_key, "token": push_token},
        )  # fmt: skip
        assert pushed.status_code == 200, pushed.text
        database = ["--database", duckdb_path]
        dry = cli("erase", "--tenant", "acmecorp01", "--number", "17325550100", "--dry-run",
                  *database)  # fmt: skip
        assert dry.exit_code == 0, dry.output
        assert dry.stdout.startswith("3 calls would be erased from acmecorp01")
        done = cli("erase", "--tenant", "acmecorp01", "--number", "17325550100", *database)
        assert done.stdout == "erased 3 calls from acmecorp01\n"
        assert cli("tenant", "set", "acmecorp01", "--retention", "30d", *database).exit_code == 0
        assert "acmecorp01  us  retention 30d" in cli("tenant", "list", *database).stdout
        applied = cli("retention", "apply", "--tenant", "acmecorp01", *database)
        assert applied.exit_code == 0, applied.output
        assert int(applied.stdout.split("deleted ")[1].split()[0]) > 0  # demo calls span 90 days
        audit = cli("audit", "--tenant", "acmecorp01", *database).stdout
        assert "caller.erase" in audit and "retention.apply" in audit and "7325550100" not in audit
