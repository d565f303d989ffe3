"""A call's source version (`sourceVersion`, Connect's LastUpdateTimestamp): an import never
replaces a stored call with an older version of it, across imports and within one, and says how
many calls it kept; on both engines."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from recent_calls.ingest.bulk import import_lines, ingest_calls
from recent_calls.storage import duckdb_store, postgres_store
from recent_calls.storage.base import Storage
from tests.calls import make_call, rows_of

START = 1700000000000
Row = tuple[str, str, int | None]  # callId, callerName, sourceVersion


def versions(storage: Storage, tenant: str = "acme") -> dict[str, tuple[str, int | None]]:
    """(caller name, source version) of each stored call of `tenant`, by callId."""
    p = storage.dialect.param
    found = storage._read(
        lambda run: run(
            f"SELECT call_id, caller_name, source_version FROM calls WHERE tenant_id = {p('t')}",
            {"t": tenant},
        )
    )
    return {row[0]: (row[1], row[2]) for row in found}


def call(call_id: str, name: str, version: int | None) -> dict[str, Any]:
    if version is None:
        return make_call(call_id, START, callerName=name)
    return make_call(call_id, START, callerName=name, sourceVersion=version)


def counts(report: Any) -> tuple[int, int, int]:
    return report.inserted, report.replaced, report.kept


@pytest.fixture
def acme(storage: Storage) -> Storage:
    storage.create_tenant("acme", "us")
    return storage


def test_an_older_delivery_imported_later_keeps_the_newer_call(acme: Storage) -> None:
    newer = import_lines(acme, "acme", [call("a", "newer", 2000), call("b", "b", 5)])
    assert counts(newer) == (2, 0, 0)
    older = import_lines(acme, "acme", [call("a", "older", 1000)])
    assert (older.received, *counts(older)) == (1, 0, 0, 1)
    assert versions(acme) == {"a": ("newer", 2000), "b": ("b", 5)}
    assert older.as_json()["kept"] == 1


def test_a_newer_delivery_imported_later_replaces_the_older_call(acme: Storage) -> None:
    assert counts(import_lines(acme, "acme", [call("a", "older", 1000)])) == (1, 0, 0)
    assert counts(import_lines(acme, "acme", [call("a", "newer", 2000)])) == (0, 1, 0)
    assert versions(acme) == {"a": ("newer", 2000)}


def test_the_same_version_again_replaces_so_a_re_import_is_idempotent(acme: Storage) -> None:
    lines = [call("a", "first", 1000), call("b", "b", 0)]
    assert counts(import_lines(acme, "acme", lines)) == (2, 0, 0)
    again = import_lines(acme, "acme", [call("a", "second", 1000), call("b", "b", 0)])
    assert counts(again) == (0, 2, 0)
    assert versions(acme) == {"a": ("second", 1000), "b": ("b", 0)}


def test_one_import_mixing_new_newer_older_and_repeated_calls_counts_each_once(
    acme: Storage,
) -> None:
    import_lines(acme, "acme", [call(i, f"{i}0", 10) for i in ("kept", "newer", "twice")])
    mixed = import_lines(
        acme,
        "acme",
        [
            call("kept", "kept-older", 9),  # older than stored: kept
            call("newer", "newer-11", 11),
            call("twice", "twice-5", 5),  # older, then newer within the same import
            call("new", "new-3", 3),
            call("twice", "twice-12", 12),
            call("new", "new-1", 1),  # an older row of a callId the import itself stored
            call("newer", "newer-11b", 11),  # equal: the later row wins
        ],
    )
    assert (mixed.received, *counts(mixed)) == (7, 1, 2, 1)
    assert versions(acme) == {
        "kept": ("kept0", 10),
        "newer": ("newer-11b", 11),
        "twice": ("twice-12", 12),
        "new": ("new-3", 3),
    }


def test_a_line_without_a_version_replaces_and_leaves_the_call_without_one(
    acme: Storage,
) -> None:
    import_lines(acme, "acme", [call("a", "connect", 2000)])
    assert counts(import_lines(acme, "acme", [call("a", "edited", None)])) == (0, 1, 0)
    assert versions(acme) == {"a": ("edited", None)}
    # Without a stored version, any delivery replaces it again.
    assert counts(import_lines(acme, "acme", [call("a", "connect again", 1)])) == (0, 1, 0)
    assert versions(acme) == {"a": ("connect again", 1)}


def test_within_one_import_rows_apply_in_order_a_line_without_a_version_included(
    acme: Storage,
) -> None:
    import_lines(acme, "acme", [call(i, f"{i}0", 10) for i in ("a", "b", "c")])
    report = import_lines(
        acme,
        "acme",
        [
            call("a", "a-plain", None),  # replaces the stored call, and its version with it
            call("a", "a-1", 1),  # so this older one replaces in turn
            call("b", "b-5", 5),  # kept at first
            call("b", "b-plain", None),  # then replaced
            call("c", "c-plain", None),
            call("c", "c-20", 20),
            call("c", "c-15", 15),  # older than the import's own row: kept that one
        ],
    )
    assert counts(report) == (0, 3, 0)
    assert versions(acme) == {"a": ("a-1", 1), "b": ("b-plain", None), "c": ("c-20", 20)}


def test_a_push_ignores_source_versions_and_replaces(acme: Storage) -> None:
    import_lines(acme, "acme", [call("a", "connect", 2000)])
    pushed = ingest_calls(acme, "acme", [call("a", "pushed", 5), call("b", "b", -1)])
    assert counts(pushed) == (1, 1, 0)
    assert versions(acme) == {"a": ("pushed", None), "b": ("b", None)}


def model(stored: dict[str, Row], batches: list[list[Row]]) -> tuple[int, int, int]:
    """The import applied to `stored` (callId: row) one row at a time; its (new, replaced,
    kept), each callId counted once."""
    before, changed = dict(stored), set()
    for batch in batches:
        for row in batch:
            was = stored.get(row[0])
            if was is None or row[2] is None or was[2] is None or row[2] >= was[2]:
                stored[row[0]] = row
                changed.add(row[0])
    ids = {row[0] for batch in batches for row in batch}
    old = ids & before.keys()
    return len(ids - old), len(old & changed), len(old - changed)


@pytest.mark.parametrize("seed", range(10))
def test_imports_of_any_batches_store_and_count_as_rows_stored_one_at_a_time(
    acme: Storage, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # A row group of 3 rows: DuckDB's staged batches end inside, at and across its boundaries;
    # PostgreSQL stores each batch on its own, so a callId meets itself across batches.
    monkeypatch.setattr(duckdb_store, "ROW_GROUP_ROWS", 3)
    rng = random.Random(seed)
    expected: dict[str, Row] = {}
    for number in range(4):
        batches = [
            [
                (f"c{rng.randrange(6)}", f"i{number}.{b}.{i}", rng.choice([None, 1, 2, 3, 3]))
                for i in range(rng.choice([0, 1, 3, 5]))
            ]
            for b in range(rng.randrange(1, 4))
        ]
        with acme.begin_import("acme") as staged:
            for batch in batches:
                staged.add(rows_of(*(call(*row) for row in batch)))
            result = staged.commit()
        assert result.received == sum(map(len, batches))
        assert (result.inserted, result.replaced, result.kept) == model(expected, batches), (
            number,
            batches,
        )
        assert versions(acme) == {key: row[1:] for key, row in expected.items()}


@pytest.mark.parametrize("seed", range(12))
def test_one_import_into_a_new_tenant_stores_and_counts_as_rows_stored_one_at_a_time(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """On PostgreSQL such an import switches to building the indexes at commit before its
    second batch and, alone with the tenant's calls, drops the primary key until a batch with
    versions or its commit brings it back: callIds repeat within and across batches, before
    and after the switch, with and without versions."""
    monkeypatch.setattr(postgres_store, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(duckdb_store, "ROW_GROUP_ROWS", 3)
    rng = random.Random(seed)
    count = f"SELECT count(*) FROM calls WHERE tenant_id = {storage.dialect.param('t')}"
    for number in range(3):
        tenant = f"t{seed}x{number}"
        storage.create_tenant(tenant, "us")
        batches = [
            [
                (f"c{rng.randrange(8)}", f"i{b}.{i}", rng.choice([None, None, None, 1, 2, 2]))
                for i in range(rng.choice([1, 2, 4, 6]))
            ]
            for b in range(rng.randrange(2, 7))
        ]
        with storage.begin_import(tenant) as staged:
            for batch in batches:
                staged.add(rows_of(*(call(*row) for row in batch)))
            result = staged.commit()
        expected: dict[str, Row] = {}
        assert (result.inserted, result.replaced, result.kept) == model(expected, batches), batches
        found = versions(storage, tenant)
        assert found == {key: row[1:] for key, row in expected.items()}, batches
        rows = storage._read(lambda run, t=tenant: run(count, {"t": t}))
        assert rows[0][0] == len(found) == storage.count_calls(tenant)  # no callId stored twice


def test_concurrent_imports_of_two_versions_keep_the_newer_whatever_the_order(
    acme: Storage,
) -> None:
    ids = [f"c{i:05d}" for i in range(2000)]
    reports: dict[int, Any] = {}
    start = threading.Barrier(2)

    def load(version: int) -> None:
        start.wait(timeout=10)
        lines = [call(call_id, f"v{version}", version) for call_id in ids]
        reports[version] = import_lines(acme, "acme", lines, workers=1)

    threads = [threading.Thread(target=load, args=(version,)) for version in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(versions(acme).values()) == {("v2", 2)}
    assert reports[1].inserted + reports[2].inserted == len(ids)
    assert reports[1].replaced == reports[2].kept == 0  # the older never replaces the newer
    assert reports[1].kept + reports[2].replaced == len(ids)
