"""The filter compiler, as a table: request fields in, SQL and parameters out."""

from __future__ import annotations

from typing import Any

import pytest

from recent_calls.query.dialects import DUCKDB, POSTGRES, Dialect
from recent_calls.query.filters import Where, build_where, only_window
from recent_calls.query.request import parse_request
from recent_calls.storage.scope import scoped
from tests.calls import make_call
from tests.support import FROZEN_NOW, LiveServer

BASE = {"tenantId": "acme", "page": 1, "rows": 10, "duration": "allhistory"}
TENANT = ("tenant_id = $tenant_id", {"tenant_id": "acme"})
NOW = int(FROZEN_NOW)
DATA = "/customerexperience/v1/recentCallData"
STATS = "/customerexperience/v1/recentCallStats"


def compile_(fields: dict[str, Any], dialect: Dialect = DUCKDB) -> tuple[str, dict[str, Any]]:
    where = build_where(parse_request({**BASE, **fields}, 0), scoped("acme", dialect))
    return where.sql, where.params


@pytest.mark.parametrize(
    ("fields", "sql", "params"),
    [
        ({}, "tenant_id = $tenant_id", {"tenant_id": "acme"}),
        (
            {"duration": None, "timeRange": "10-20"},
            "tenant_id = $tenant_id AND start_ms >= $start_low AND start_ms < $start_high",
            {"tenant_id": "acme", "start_low": 10, "start_high": 21},
        ),
        (
            {"callerName": ["ÖMer"]},
            "tenant_id = $tenant_id AND (contains(caller_name_key, $caller) "
            "OR contains(caller_number_key, $caller))",
            {"tenant_id": "acme", "caller": "ömer"},
        ),
        ({"callerName": [""]}, "tenant_id = $tenant_id", {"tenant_id": "acme"}),
        ({"callerName": []}, "tenant_id = $tenant_id", {"tenant_id": "acme"}),
        (
            {"tenantAgents": ["a", "b"]},
            "tenant_id = $tenant_id AND list_has_any(agent_ids, $tenantAgents::VARCHAR[])",
            {"tenant_id": "acme", "tenantAgents": ["a", "b"]},
        ),
        (
            {"tenantQueues": ["1"], "tenantGroups": ["2"]},
            "tenant_id = $tenant_id AND list_has_any(queue_ids, $tenantQueues::VARCHAR[]) "
            "AND list_has_any(agent_groups, $tenantGroups::VARCHAR[])",
            {"tenant_id": "acme", "tenantQueues": ["1"], "tenantGroups": ["2"]},
        ),
        (
            {"tenantChannels": ["1800"]},
            "tenant_id = $tenant_id AND list_contains($tenantChannels::VARCHAR[], dialed_number)",
            {"tenant_id": "acme", "tenantChannels": ["1800"]},
        ),
        ({"tenantAgents": []}, "tenant_id = $tenant_id", {"tenant_id": "acme"}),
        (
            {"agentHoldCount": "range:2,-1"},
            "tenant_id = $tenant_id AND agent_hold_count >= $agentHoldCount_low",
            {"tenant_id": "acme", "agentHoldCount_low": 2},
        ),
        (
            {"transferCount": "range:1,3"},
            "tenant_id = $tenant_id AND transfer_count >= $transferCount_low "
            "AND transfer_count <= $transferCount_high",
            {"tenant_id": "acme", "transferCount_low": 1, "transferCount_high": 3},
        ),
        ({"agentMuteCount": "range:-1,-1"}, "tenant_id = $tenant_id", {"tenant_id": "acme"}),
        (
            {"callDuration": "sec:5,5"},
            "tenant_id = $tenant_id AND call_duration >= $callDuration_low "
            "AND call_duration < $callDuration_high",
            {"tenant_id": "acme", "callDuration_low": 5000, "callDuration_high": 6000},
        ),
        (
            {"agentCallDuration": "min:5,-1"},
            "tenant_id = $tenant_id AND agent_handling >= $agentCallDuration_low",
            {"tenant_id": "acme", "agentCallDuration_low": 300000},
        ),
        (
            {"timeInQueue": "sec:-1,60"},
            "tenant_id = $tenant_id AND wait_time < $timeInQueue_high",
            {"tenant_id": "acme", "timeInQueue_high": 61000},
        ),
        (
            {"timeInIVR": "sec:0,-1", "agentHoldDuration": "sec:30,-1"},
            "tenant_id = $tenant_id AND time_in_ivr >= $timeInIVR_low "
            "AND hold_duration >= $agentHoldDuration_low",
            {"tenant_id": "acme", "timeInIVR_low": 0, "agentHoldDuration_low": 30000},
        ),
    ],
)
def test_compiles_to(fields: dict[str, Any], sql: str, params: dict[str, Any]) -> None:
    assert compile_(fields) == (sql, params)


def test_postgres_escapes_like_wildcards_so_they_match_literally() -> None:
    sql, params = compile_({"callerName": ["50%_\\x"]}, POSTGRES)
    assert "caller_name_key LIKE %(caller)s" in sql
    assert params["caller"] == "%50\\%\\_\\\\x%"


def test_postgres_list_filters_use_array_operators() -> None:
    sql, _ = compile_({"tenantAgents": ["a"], "tenantChannels": ["1"]}, POSTGRES)
    assert "agent_ids && %(tenantAgents)s::text[]" in sql
    assert "dialed_number = ANY(%(tenantChannels)s::text[])" in sql


def test_the_tenant_always_comes_first_whatever_the_body_says() -> None:
    where = build_where(parse_request({**BASE, "tenantId": "theirs"}, 0), scoped("mine", DUCKDB))
    assert where.sql.startswith("tenant_id = $tenant_id")
    assert where.params["tenant_id"] == "mine"


def test_the_compiler_writes_no_tenant_condition_of_its_own() -> None:
    body = {**BASE, "callerName": ["a"], "tenantAgents": ["x"], "transferCount": "range:1,2"}
    where = build_where(parse_request(body, 0), Where(DUCKDB))
    assert "tenant_id" not in where.sql
    assert "tenant_id" not in where.params


def test_a_parameter_cannot_be_bound_twice() -> None:
    where = scoped("mine", DUCKDB)
    with pytest.raises(ValueError, match="tenant_id"):
        where.bind("tenant_id", "theirs")


OUTCOME_CALLS = [
    ("answered-1", "30000.0", "0.0"),
    ("answered-2", "1000.0", "0.0"),
    ("abandoned-1", "0.0", "4000.0"),
    ("other-1", "0.0", "0.0"),
]


def outcome_calls() -> list[dict[str, Any]]:
    return [
        make_call(
            call_id,
            NOW - (index + 1) * 60_000,
            agentCallHandlingDuration=handling,
            abandonTime=abandon,
        )
        for index, (call_id, handling, abandon) in enumerate(OUTCOME_CALLS)
    ]


@pytest.mark.parametrize(
    ("outcome", "found"),
    [
        (["answered"], {"answered-1", "answered-2"}),
        (["abandoned"], {"abandoned-1"}),
        (["other"], {"other-1"}),
        (["abandoned", "other"], {"abandoned-1", "other-1"}),
        (["answered", "abandoned", "other"], {c[0] for c in OUTCOME_CALLS}),
        ([], {c[0] for c in OUTCOME_CALLS}),
    ],
)
def test_the_outcome_filter_selects_each_call_by_what_became_of_it(
    api: LiveServer, outcome: list[str], found: set[str]
) -> None:
    credential = api.tenant("acme", calls=outcome_calls())
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    body = {**BASE, "outcome": outcome}
    answer = api.http.post(f"{DATA}/{credential.region}", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    assert {item["callId"] for item in answer.json()["data"]} == found
    # The figures count the same calls the page lists.
    stats = api.http.post(
        f"{STATS}/{credential.region}", headers=headers, json={**body, "interval": "day"}
    ).json()
    assert stats["totals"]["calls"] == len(found)


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("answered", "not an array"),
        (["lost"], "'lost' is not a known value"),
        ([1], "not a string"),
    ],
)
def test_a_bad_outcome_is_a_400_naming_it(api: LiveServer, outcome: Any, reason: str) -> None:
    credential = api.tenant("acme", calls=[])
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    answer = api.http.post(
        f"{DATA}/{credential.region}", headers=headers, json={**BASE, "outcome": outcome}
    )
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert [error["field"] for error in errors] == ["outcome"]
    assert reason in errors[0]["message"]
    assert "answered, abandoned, other" in errors[0]["message"]


def test_the_outcome_compiles_to_fixed_conditions_and_narrows_the_window_only_query() -> None:
    sql, params = compile_({"outcome": ["abandoned", "answered"]})
    assert sql == (
        "tenant_id = $tenant_id AND (agent_handling > 0 OR "
        "(coalesce(agent_handling, 0) <= 0 AND abandon_time > 0))"
    )
    assert params == {"tenant_id": "acme"}
    assert not only_window(parse_request({**BASE, "outcome": ["other"]}, 0))
    assert only_window(parse_request({**BASE, "outcome": ["other", "answered", "abandoned"]}, 0))
