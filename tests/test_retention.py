"""Retention: a tenant's period, calls past it deleted in batches, counts exact, audited."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from recent_calls.admin.local import LocalAdmin
from recent_calls.admin.retention import DAY_MS, apply_retention, parse_retention
from recent_calls.cli.main import main
from recent_calls.errors import InvalidRequest
from recent_calls.ingest.bulk import import_lines
from recent_calls.query.request import parse_request
from recent_calls.storage.base import Storage
from tests.calls import bound, make_call, rows_of
from tests.endpoints import ADMIN
from tests.support import FROZEN_NOW, InProcessHTTP, LiveServer, ServerFactory, add_tenant

NOW = int(FROZEN_NOW)


def clock() -> int:
    return NOW


def hits(storage: Storage, tenant: str, **fields: Any) -> int:
    query = parse_request({"tenantId": tenant, "page": 1, "rows": 1, **fields}, NOW)
    return storage.search(bound(tenant), query).hits


def daily(days: int, per_day: int, prefix: str = "c") -> list[dict[str, Any]]:
    """`per_day` calls on each of the last `days` days (ending an hour before now)."""
    return [
        make_call(f"{prefix}{d}-{i}", NOW - 3_600_000 - d * DAY_MS - i * 1000)
        for d in range(days)
        for i in range(per_day)
    ]


@pytest.mark.parametrize(
    ("given", "days"), [("400d", 400), ("8w", 56), ("2y", 730), (" 1D ", 1), ("none", None)]
)
def test_periods_are_days_weeks_or_years(given: str, days: int | None) -> None:
    assert parse_retention(given) == (None if days is None else days * DAY_MS)


@pytest.mark.parametrize(
    "given",
    # Digits of other scripts (Arabic-Indic, full-width) are digits to `int`, not to a typist.
    ["400s", "400m", "24h", "400", "0d", "d", "-3d", "1.5y", "\u0663\u0660d", "\uff11\uff10d"],
)
def test_a_period_under_a_day_or_without_its_unit_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"d, w or y"):
        parse_retention(given)


def test_retention_deletes_only_what_is_past_its_period_exactly(storage: Storage) -> None:
    add_tenant(storage, "t", "us", daily(40, 9))
    add_tenant(storage, "u", "us", daily(40, 3, "u"))  # no retention: kept whole
    admin = LocalAdmin(storage, clock, actor="cli:test")
    admin.set_retention("t", "30d")
    before = {"t": hits(storage, "t", duration="allhistory"), "u": storage.count_calls("u")}
    assert before == {"t": 360, "u": 120}
    # Small batches: many transactions, the count still exact.
    assert apply_retention(storage, clock, "cli:test", batch=7) == {"t": 10 * 9}
    assert storage.count_calls("t") == 270 and storage.count_calls("u") == 120
    # Exact hits and per-day counts (PostgreSQL's call_days) agree with the rows after it.
    assert hits(storage, "t", duration="allhistory") == 270
    window = f"{NOW - 35 * DAY_MS}-{NOW}"
    assert hits(storage, "t", timeRange=window) == 270
    days = storage.stats(bound("t"), parse_request({"tenantId": "t", "page": 1, "rows": 1,
                         "timeRange": window}, NOW), "day")  # fmt: skip
    assert sum(bucket.calls for bucket in days.buckets) == 270
    entry = storage.list_audit("t", 1)[0]
    assert (entry.action, entry.actor) == ("retention.apply", "cli:test")
    assert entry.detail.startswith("deleted=90 ")
    # A second run deletes nothing and says so.
    assert apply_retention(storage, clock, "cli:test") == {"t": 0}
    assert storage.list_audit("t", 1)[0].detail.startswith("deleted=0 ")


def test_retention_racing_pushes_deletes_no_new_call_and_every_old_one(storage: Storage) -> None:
    add_tenant(storage, "t", "us", daily(20, 50))
    LocalAdmin(storage, clock).set_retention("t", "10d")
    pushed: list[int] = []

    def push(worker: int) -> None:
        for n in range(10):
            calls = [make_call(f"p{worker}-{n}-{i}", NOW - DAY_MS - i) for i in range(20)]
            pushed.append(storage.upsert_calls("t", rows_of(*calls)).inserted)

    threads = [threading.Thread(target=push, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    deleted = apply_retention(storage, clock, "test", batch=37)["t"]
    for thread in threads:
        thread.join()
    assert deleted == 10 * 50 and sum(pushed) == 600
    assert storage.count_calls("t") == 10 * 50 + 600
    assert hits(storage, "t", duration="allhistory") == 10 * 50 + 600
    assert hits(storage, "t", timeRange=f"0-{NOW - 10 * DAY_MS - 1}") == 0


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"RECENT_CALLS_NOW": FROZEN_NOW})


def test_the_cli_sets_lists_and_applies_retention(database: str) -> None:
    assert cli("tenant", "create", "acme", "--region", "us", "--database", database).exit_code == 0
    typo = cli("tenant", "set", "acme", "--retention", "400s", "--database", database)
    assert typo.exit_code == 1
    assert "unit d, w or y" in typo.output and "'400s'" in typo.output
    assert cli("tenant", "set", "acme", "--retention", "2d", "--database", database).exit_code == 0
    listed = cli("tenant", "list", "--database", database)
    assert "acme  us  retention 2d" in listed.stdout
    lines = b"".join(orjson.dumps(call) + b"\n" for call in daily(5, 1))
    imported = CliRunner().invoke(main, ["import", "--tenant", "acme", "-", "--database", database],
                                  input=lines, env={"RECENT_CALLS_NOW": FROZEN_NOW})  # fmt: skip
    assert imported.exit_code == 0, imported.output
    applied = cli("retention", "apply", "--database", database)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout == "acme: deleted 3 calls\n"
    audit = cli("audit", "--tenant", "acme", "--database", database).stdout
    assert "retention.apply  acme  deleted=3 " in audit and "tenant.retention" in audit
    cleared = cli("tenant", "set", "acme", "--retention", "none", "--database", database)
    assert cleared.exit_code == 0
    assert "retention none" in cli("tenant", "list", "--database", database).stdout


def test_the_admin_api_sets_and_applies_retention(storage: Storage, http: InProcessHTTP) -> None:
    add_tenant(storage, "acme", "us", daily(5, 2))
    path = "/admin/v1/tenants/acme/retention"
    refused = http.request("PUT", path, json={"retention": "12h"}, headers=ADMIN)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "retention"
    assert http.request("PUT", path, json={"retention": "3d"}, headers=ADMIN).status_code == 204
    missing = http.request("PUT", "/admin/v1/tenants/nosuch/retention", json={"retention": "3d"},
                           headers=ADMIN)  # fmt: skip
    assert missing.status_code == 404
    listed = http.get("/admin/v1/tenants", headers=ADMIN).json()
    assert [(t["tenantId"], t["retention"]) for t in listed] == [("acme", "3d")]
    applied = http.post("/admin/v1/retention/apply", json={}, headers=ADMIN)
    assert applied.json() == {"acme": 4}


def test_the_server_applies_retention_on_its_schedule(
    storage: Storage, make_server: ServerFactory
) -> None:
    add_tenant(storage, "acme", "us", daily(5, 2))
    with pytest.raises(InvalidRequest):
        LocalAdmin(storage, clock).set_retention("acme", "0d")
    LocalAdmin(storage, clock).set_retention("acme", "2d")
    server: LiveServer = make_server(retention_interval_s=0.2)
    import time

    def audited() -> str:
        return server.storage.list_audit("acme", 1)[0].actor

    # The run deletes, then records its audit entry: wait for both.
    deadline = time.monotonic() + 10
    while (storage.count_calls("acme"), audited()) != (4, "server:retention") and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert storage.count_calls("acme") == 4
    assert audited() == "server:retention"
    import_lines(storage, "acme", daily(5, 1, "again"))  # old calls arriving later go too
    deadline = time.monotonic() + 10
    while storage.count_calls("acme") != 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert storage.count_calls("acme") == 6


def test_retention_racing_imports_counts_every_call_once(storage: Storage) -> None:
    """File imports of old and new calls while retention runs: each old call is deleted by this
    run or the next, each new one kept, and the counts add up exactly."""
    add_tenant(storage, "t", "us", daily(20, 50))
    LocalAdmin(storage, clock).set_retention("t", "10d")

    def load(worker: int) -> None:
        for n in range(5):
            recent = [make_call(f"n{worker}-{n}-{i}", NOW - DAY_MS - i) for i in range(100)]
            old = [make_call(f"o{worker}-{n}-{i}", NOW - 15 * DAY_MS - i) for i in range(100)]
            import_lines(storage, "t", recent + old, workers=1)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    first = apply_retention(storage, clock, "test", batch=53)["t"]
    for thread in threads:
        thread.join()
    second = apply_retention(storage, clock, "test", batch=53)["t"]
    assert first + second == 10 * 50 + 2 * 5 * 100
    assert storage.count_calls("t") == hits(storage, "t", duration="allhistory") == 500 + 1000
    assert hits(storage, "t", timeRange=f"0-{NOW - 10 * DAY_MS - 1}") == 0
