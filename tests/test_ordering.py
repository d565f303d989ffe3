"""The page plan's SQL (pure): a total order, and boundary and count statements per dialect."""

from __future__ import annotations

import pytest

from recent_calls.fields import SORT_COLUMNS
from recent_calls.query.dialects import DUCKDB, POSTGRES, Dialect
from recent_calls.query.ordering import Ordering
from recent_calls.query.request import parse_request


def ordering(dialect: Dialect, **fields: str) -> Ordering:
    body = {"tenantId": "t", "page": 1, "rows": 1, "duration": "allhistory", **fields}
    return Ordering.of(parse_request(body, 0), dialect)


def test_the_default_order_is_newest_first_then_call_id() -> None:
    assert ordering(DUCKDB).clause == "start_ms DESC, call_id DESC"
    assert ordering(POSTGRES).clause == 'start_ms DESC, (call_id) COLLATE "C" DESC'


@pytest.mark.parametrize("column", [c for c in SORT_COLUMNS if c != "callDate"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_key_is_broken_by_start_then_call_id_in_its_direction(
    column: str, order: str
) -> None:
    plan = ordering(DUCKDB, sortColumn=column, sortOrder=order)
    way = order.upper()
    assert plan.clause == f"{plan.key} {way}, start_ms {way}, call_id {way}"


def test_text_keys_compare_by_code_point_on_postgres() -> None:
    key = ordering(POSTGRES, sortColumn="callerName").key
    assert key == '(caller_name_key) COLLATE "C"'
    assert ordering(DUCKDB, sortColumn="callerName").key == "caller_name_key"


def test_the_boundary_is_read_from_the_nearer_end() -> None:
    plan = ordering(DUCKDB, sortColumn="waitTime", sortOrder="asc")
    assert plan.boundary_sql("w") == (
        "SELECT wait_time FROM calls WHERE w ORDER BY wait_time ASC LIMIT 1 OFFSET $skip"
    )
    assert "ORDER BY wait_time DESC" in plan.boundary_sql("w", from_end=True)


def test_counts_before_and_at_or_after_the_boundary_split_the_hits() -> None:
    descending = ordering(POSTGRES)
    assert descending.before_sql("w").endswith("WHERE w AND start_ms > %(boundary)s")
    assert descending.at_or_after_sql("w").endswith("WHERE w AND start_ms <= %(boundary)s")
    ascending = ordering(DUCKDB, sortOrder="asc")
    assert ascending.sorts_before("b") == "start_ms < $b"
    assert ascending.at_or_after("b") == "start_ms >= $b"
