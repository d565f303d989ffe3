"""Breakdowns in recentCallStats: every figure against a plain computation over the same calls."""

from __future__ import annotations

from collections import defaultdict
from random import Random
from typing import Any

import pytest

from recent_calls.ingest.bulk import import_lines
from recent_calls.query.breakdowns import (
    GROUP_BY,
    MAX_ROWS,
    ROW_FILTER,
    Grouping,
    build_breakdown,
    parse_grouping,
)
from recent_calls.query.dialects import DUCKDB, POSTGRES, Dialect
from recent_calls.query.filters import build_where
from recent_calls.query.request import parse_request
from recent_calls.storage.base import Storage
from recent_calls.storage.scope import scoped
from tests.calls import bound, make_call
from tests.support import FROZEN_NOW, LiveServer

NOW = int(FROZEN_NOW)
STATS = "/customerexperience/v1/recentCallStats"
DATA = "/customerexperience/v1/recentCallData"
FIELDS = {
    "queue": "queueId",
    "agent": "agentId",
    "agentGroup": "agentGroup",
    "channel": "dialedNumber",
}
WINDOW = f"{NOW - 86_400_000}-{NOW - 1}"


def generated_calls(count: int, seed: int, tenant: str = "acme") -> list[dict[str, Any]]:
    """Calls with several, repeated or no ids, and waits on and around the thresholds."""
    rng = Random(seed)
    agents = ["agA", "agB", "agC", "agD", "agÉ"]
    calls = []
    for i in range(count):
        picked = rng.sample(agents, rng.choice([0, 1, 1, 2, 3]))
        if picked and rng.random() < 0.1:
            picked.append(picked[0])  # the same agent twice on one call counts once
        handled = bool(picked) and rng.random() < 0.85
        calls.append(
            make_call(
                f"{tenant}-{i:04d}",
                NOW - (i + 1) * 60_000,
                agentId=",".join(picked),
                queueId=",".join(rng.sample(["100", "101", "102", "2583"], rng.choice([0, 1, 2]))),
                agentGroup=rng.choice(["", "10", "11", "10,11"]),
                dialedNumber=rng.choice(["", "18005550000", "18005550001"]),
                waitTime=f"{rng.choice([0, 5000, 19_999, 20_000, 20_001, 30_000, 61_000])}.0",
                agentCallHandlingDuration=f"{rng.randrange(1, 900) * 1000 if handled else 0}.0",
                abandonTime="0.0" if handled else f"{rng.choice([0, 4000, 9000])}.0",
                transferCount=f"{rng.choice([0, 0, 1, 2])}.0",
            )
        )
    return calls


def _number(call: dict[str, Any], key: str) -> float:
    return float(call[key])


def expected_rows(calls: list[dict[str, Any]], by: str, threshold_s: int) -> list[dict[str, Any]]:
    """The breakdown computed in plain Python, as docs/stats.md defines it."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        keys = {part.strip() for part in call[FIELDS[by]].split(",") if part.strip()}
        for key in keys or {""}:
            groups[key].append(call)
    rows = []
    for key, members in groups.items():
        n = len(members)
        answered = [c for c in members if _number(c, "agentCallHandlingDuration") > 0]
        abandoned = sum(1 for c in members if _number(c, "abandonTime") > 0)
        within = sum(1 for c in answered if _number(c, "waitTime") <= threshold_s * 1000)
        handling = sum(_number(c, "agentCallHandlingDuration") for c in answered)
        rows.append(
            {
                "key": key,
                "calls": n,
                "answered": len(answered),
                "abandoned": abandoned,
                "abandonRate": round(abandoned / n, 4),
                "avgWaitTime": round(sum(_number(c, "waitTime") for c in members) / n, 1),
                "avgHandleTime": round(handling / len(answered), 1) if answered else None,
                "serviceLevel": round(within / n, 4),
                "transfers": int(sum(_number(c, "transferCount") for c in members)),
            }
        )
    return sorted(rows, key=lambda row: (-row["calls"], row["key"]))


def stats(server: LiveServer, credential: Any, **fields: Any) -> Any:
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    body = {"tenantId": credential.tenant_id, "timeRange": WINDOW, **fields}
    return server.http.post(f"{STATS}/{credential.region}", headers=headers, json=body)


@pytest.fixture
def generated(server: LiveServer) -> tuple[Any, list[dict[str, Any]]]:
    calls = generated_calls(300, seed=13)
    agents = [call["agentId"].split(",") for call in calls]
    assert any(len(set(ids)) < len(ids) for ids in agents)  # an agent twice on one call
    acme = server.tenant("acme", calls=calls)
    # Another tenant with the same ids: none of its calls may be counted.
    server.tenant("other", calls=generated_calls(120, seed=14, tenant="other"))
    return acme, calls


@pytest.mark.parametrize("by", list(FIELDS))
def test_every_figure_matches_a_plain_computation(
    server: LiveServer, generated: tuple[Any, list[dict[str, Any]]], by: str
) -> None:
    acme, calls = generated
    response = stats(server, acme, groupBy=by)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "" in [row["key"] for row in answer["breakdown"]["rows"]]  # calls without one
    assert answer["breakdown"] == {
        "by": by,
        "serviceLevelSeconds": 20,
        "serviceLevel": answer["breakdown"]["serviceLevel"],
        "rows": expected_rows(calls, by, 20),
    }
    assert answer["totals"]["calls"] == 300  # buckets and totals as without groupBy


@pytest.mark.parametrize("threshold", [0, 20, 61])
def test_the_overall_service_level_counts_each_call_once(
    server: LiveServer, generated: tuple[Any, list[dict[str, Any]]], threshold: int
) -> None:
    acme, calls = generated
    within = sum(
        1
        for c in calls
        if _number(c, "agentCallHandlingDuration") > 0
        and _number(c, "waitTime") <= threshold * 1000
    )
    answer = stats(server, acme, groupBy="queue", serviceLevelSeconds=threshold).json()
    # Calls with several queues count under each row, but once in the overall figure.
    assert sum(row["calls"] for row in answer["breakdown"]["rows"]) > len(calls)
    assert answer["breakdown"]["serviceLevel"] == round(within / len(calls), 4)
    empty = stats(server, acme, groupBy="queue", tenantQueues=["nothing"]).json()
    assert empty["breakdown"] == {
        "by": "queue",
        "serviceLevelSeconds": 20,
        "serviceLevel": None,
        "rows": [],
    }


def test_each_rows_filter_selects_exactly_that_rows_calls(
    server: LiveServer, generated: tuple[Any, list[dict[str, Any]]]
) -> None:
    """The console filters by a clicked row through ROW_FILTER: the filter must find its calls."""
    acme, _ = generated
    assert set(ROW_FILTER) == set(GROUP_BY)
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    for by, field in ROW_FILTER.items():
        rows = stats(server, acme, groupBy=by).json()["breakdown"]["rows"]
        for row in rows:
            if row["key"] == "":
                continue
            body = {
                "tenantId": "acme",
                "timeRange": WINDOW,
                field: [row["key"]],
                "page": 1,
                "rows": 1,
            }
            found = server.http.post(f"{DATA}/{acme.region}", headers=headers, json=body)
            assert found.status_code == 200, found.text
            assert found.json()["hits"] == row["calls"], (by, row["key"])


def test_the_filters_and_threshold_apply(
    server: LiveServer, generated: tuple[Any, list[dict[str, Any]]]
) -> None:
    acme, calls = generated
    chosen = [c for c in calls if {"100", "2583"} & set(c["queueId"].split(","))]
    response = stats(
        server, acme, groupBy="agent", serviceLevelSeconds=0, tenantQueues=["100", "2583"]
    )
    assert response.json()["breakdown"]["rows"] == expected_rows(chosen, "agent", 0)
    assert response.json()["breakdown"]["serviceLevelSeconds"] == 0


def test_the_service_level_threshold_includes_its_edge(server: LiveServer) -> None:
    waits = [0, 19_999, 20_000, 20_001]
    calls = [
        make_call(f"w{n}", NOW - 1000 * (n + 1), waitTime=f"{w}.0") for n, w in enumerate(waits)
    ]
    # Not answered, however short its wait: never within the service level.
    calls.append(make_call("lost", NOW - 9000, waitTime="0.0", agentCallHandlingDuration="0.0",
                           abandonTime="3000.0", agentId=""))  # fmt: skip
    acme = server.tenant("acme", calls=calls)

    def level(seconds: int) -> Any:
        answer = stats(server, acme, groupBy="queue", serviceLevelSeconds=seconds).json()
        return answer["breakdown"]["rows"][0]["serviceLevel"]

    assert level(20) == 0.6  # 0, 19.999 and 20.000 s of five calls
    assert level(19) == 0.2
    assert level(0) == 0.2
    assert level(21) == 0.8
    agents = stats(server, acme, groupBy="agent").json()["breakdown"]["rows"]
    assert [(row["key"], row["calls"]) for row in agents] == [("agA", 4), ("", 1)]
    assert agents[1]["avgHandleTime"] is None and agents[1]["abandonRate"] == 1.0


def test_without_group_by_there_is_no_breakdown(server: LiveServer) -> None:
    acme = server.tenant("acme", calls=[make_call("c1", NOW - 1000)])
    assert stats(server, acme).json()["breakdown"] is None
    assert stats(server, acme, groupBy=None, serviceLevelSeconds=None).json()["breakdown"] is None


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"groupBy": "caller"}, "groupBy"),
        ({"groupBy": ["queue"]}, "groupBy"),
        ({"groupBy": "queue", "serviceLevelSeconds": -1}, "serviceLevelSeconds"),
        ({"groupBy": "queue", "serviceLevelSeconds": 86_401}, "serviceLevelSeconds"),
        ({"groupBy": "queue", "serviceLevelSeconds": 2.5}, "serviceLevelSeconds"),
        ({"groupBy": "queue", "serviceLevelSeconds": "20"}, "serviceLevelSeconds"),
        ({"groupBy": "queue", "serviceLevelSeconds": True}, "serviceLevelSeconds"),
        ({"serviceLevelSeconds": 10**30}, "serviceLevelSeconds"),
    ],
)
def test_bad_fields_are_named(server: LiveServer, fields: dict[str, Any], bad: str) -> None:
    acme = server.tenant("acme")
    response = stats(server, acme, **fields)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [bad]


def test_bad_fields_are_reported_together_and_before_the_tenant_binding(server: LiveServer) -> None:
    acme = server.tenant("acme")
    server.tenant("other")
    response = stats(
        server, acme, duration="fortnight", timeRange=None, groupBy="x", serviceLevelSeconds=-5
    )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {
        "duration",
        "groupBy",
        "serviceLevelSeconds",
    }
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    body = {"tenantId": "other", "timeRange": WINDOW, "groupBy": "x"}
    assert server.http.post(f"{STATS}/us", headers=headers, json=body).status_code == 400
    body["groupBy"] = "queue"
    assert server.http.post(f"{STATS}/us", headers=headers, json=body).status_code == 403
    assert server.http.post(f"{STATS}/us", json=body).status_code == 401


def test_at_most_a_thousand_rows_most_calls_first(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    calls = [
        make_call(f"c{n}", NOW - n - 1, dialedNumber=f"1800{n:07d}") for n in range(MAX_ROWS + 5)
    ]
    calls += [make_call(f"d{n}", NOW - 5000 - n, dialedNumber="18009999999") for n in range(3)]
    import_lines(storage, "acme", calls)
    query = parse_request({"tenantId": "acme", "timeRange": WINDOW, "page": 1, "rows": 1}, NOW)
    answer = storage.stats(bound("acme"), query, "day", Grouping("channel", 20)).breakdown
    assert answer is not None
    rows = answer.rows
    assert len(rows) == MAX_ROWS
    assert (rows[0].key, rows[0].calls) == ("18009999999", 3)
    assert [row.key for row in rows[1:4]] == ["18000000000", "18000000001", "18000000002"]


@pytest.mark.parametrize("dialect", [DUCKDB, POSTGRES], ids=lambda d: d.name)
def test_the_compiler_binds_the_tenant_first_and_every_value(dialect: Dialect) -> None:
    body = {"tenantId": "acme", "timeRange": WINDOW, "page": 1, "rows": 1, "tenantAgents": ["agA"]}
    query = parse_request(body, NOW)
    selected = build_where(query, scoped("acme", dialect))
    compiled = build_breakdown(selected, Grouping("agent", 30))
    where = compiled.sql.split(" WHERE ", 1)[1]
    assert where.startswith(f"tenant_id = {dialect.param('tenant_id')}")
    assert compiled.params["tenant_id"] == "acme" and compiled.params["sl_threshold"] == 30_000
    assert "acme" not in compiled.sql and "agA" not in compiled.sql
    with pytest.raises(ValueError):
        build_breakdown(selected, Grouping("caller"))


def test_grouping_defaults() -> None:
    assert parse_grouping({"groupBy": "queue"}) == (Grouping("queue", 20), [])
    assert parse_grouping({"groupBy": ""}) == (None, [])
    assert parse_grouping([1]) == (None, [])
