"""Storage: the page plan against a plain sort, compaction, isolation, and tenant scoping."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from recent_calls.imports import import_lines
from recent_calls.query import SORT_COLUMNS, parse_request
from recent_calls.storage.base import Storage
from tests.calls import make_call

START = 1700000000000


def seeded_calls(count: int, seed: int) -> list[dict[str, Any]]:
    """Calls with many ties on every sort key, so tie-breaking decides most of the order."""
    rng = random.Random(seed)
    return [
        make_call(
            f"c{rng.randrange(10**6):06d}-{i}",
            START + rng.randrange(20) * 1000,
            callDuration=str(rng.choice([1000, 2000, 3000])),
            callerName=rng.choice(["ann", "Ann", "bob", "Émile", ""]),
            queueId=rng.choice(["1", "2,3", "10"]),
            transferCount=f"{rng.randrange(3)}.0",
        )
        for i in range(count)
    ]


def request(**fields: Any) -> Any:
    return parse_request({"tenantId": "t", "duration": "allhistory", **fields}, 0)


@pytest.mark.parametrize("column", [None, *SORT_COLUMNS])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_page_of_the_plan_matches_one_plain_sort(
    storage: Storage, column: str | None, order: str
) -> None:
    storage.create_tenant("t", "us")
    import_lines(storage, "t", seeded_calls(120, seed=3))
    whole = storage.search("t", request(page=1, rows=5000, sortColumn=column, sortOrder=order))
    assert whole.hits == 120
    walked = []
    for page in range(1, 14):
        result = storage.search(
            "t", request(page=page, rows=11, sortColumn=column, sortOrder=order)
        )
        assert result.hits == 120
        walked += result.rows
    assert walked == whole.rows


def test_compaction_keeps_every_call_and_every_answer(storage: Storage) -> None:
    storage.create_tenant("t", "us")
    storage.create_tenant("u", "uk")
    calls = seeded_calls(300, seed=5)
    for tenant in ("t", "u"):
        for start in range(0, 300, 50):  # many small, interleaved appends
            import_lines(storage, tenant, calls[start : start + 50])
    before = storage.search("t", request(page=2, rows=40, sortColumn="callerName"))
    storage.compact()
    after = storage.search("t", request(page=2, rows=40, sortColumn="callerName"))
    assert after == before
    assert storage.count_calls("t") == storage.count_calls("u") == 300


def test_other_tenants_calls_are_invisible(storage: Storage) -> None:
    storage.create_tenant("t", "us")
    storage.create_tenant("u", "us")
    import_lines(storage, "t", [make_call("mine", START)])
    import_lines(storage, "u", [make_call("theirs", START), make_call("mine", START + 1)])
    result = storage.search("t", request(page=1, rows=100))
    assert result.hits == 1
    assert [row[0] for row in result.rows] == ["mine"]
    assert storage.count_calls("u") == 2


def test_every_statement_on_call_data_is_bound_to_one_tenant(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.create_tenant("t", "us")
    import_lines(storage, "t", seeded_calls(30, seed=1))
    seen: list[str] = []
    original = storage._read

    def recording(work: Any) -> Any:
        def run_and_record(run: Any) -> Any:
            def recorded(sql: str, params: dict[str, Any]) -> Any:
                seen.append(sql)
                return run(sql, params)

            return work(recorded)

        return original(run_and_record)

    monkeypatch.setattr(storage, "_read", recording)
    for page in (1, 2, 3):
        storage.search("t", request(page=page, rows=7, callerName=["a"], sortColumn="queueId"))
    storage.count_calls("t")
    on_calls = [sql for sql in seen if re.search(r"\bFROM calls\b", sql)]
    assert len(on_calls) >= 8
    for sql in on_calls:
        for select in re.split(r"\bFROM calls\b", sql)[1:]:
            assert re.match(r"\s+WHERE tenant_id = ", select), sql
