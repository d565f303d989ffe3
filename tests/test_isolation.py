"""Tenant isolation on both engines: no request returns or counts another tenant's call.

Hypothesis makes the tenants (ids that differ only in case, that prefix one another, in either
region), their calls (callIds shared between tenants on purpose) and the requests (any tenant id,
either region, any credential, random filters, all four API endpoints, and pushes). Every answer
is judged against what the caller's own tenant holds; 403 answers are compared byte for byte
with the answer about a tenant that does not exist.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.client.transport import tls_context
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.pg import fresh_database
from tests.support import FROZEN_NOW, add_tenant, serving

START = 1710000000000
ENDPOINTS = ("recentCallData", "recentCallStats", "recentCallFacets")
_run = itertools.count()


@dataclass
class World:
    storage: Storage
    http: httpx.Client
    not_found_403: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        if request.param == "duckdb":
            database = str(Path(tmp_path_factory.mktemp("iso")) / "calls.duckdb")
        else:
            database = stack.enter_context(fresh_database())
        storage = open_storage(database)
        stack.callback(storage.close)
        settings = Settings(database=database, now=FROZEN_NOW, rate_limit_per_s=0)
        url = stack.enter_context(serving(settings, storage))
        http = stack.enter_context(httpx.Client(verify=tls_context(), base_url=url, timeout=30))
        yield World(storage, http)


# Tenant ids that collide in every careless way: case, prefixes, separators.
stems = st.sampled_from(["acme", "Acme", "ACME", "acme1", "acme.1", "acm", "a", "b-c", "b_c"])


@st.composite
def tenants(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    """(stem, region, number of calls) for 2-4 tenants with distinct stems."""
    chosen = draw(st.lists(stems, min_size=2, max_size=4, unique=True))
    return [(stem, draw(st.sampled_from(["us", "uk"])), draw(st.integers(0, 6))) for stem in chosen]


def _calls(tenant_id: str, count: int) -> list[dict[str, Any]]:
    # Every tenant uses the same callIds; agents and names say whose a call is.
    return [
        make_call(
            f"c{index}",
            START - index * 3_600_000,
            callerName=f"owner {tenant_id}",
            agentId=f"ag-{tenant_id}",
            queueId=f"q-{tenant_id}",
        )
        for index in range(count)
    ]


filters = st.fixed_dictionaries(
    {},
    optional={
        "callerName": st.lists(
            st.sampled_from(["owner", "acme", "ACME", "%", "_", "c1"]), max_size=1
        ),
        "tenantAgents": st.lists(st.sampled_from(["ag-acme", "ag-Acme", "ag-a"]), max_size=2),
        "sortColumn": st.sampled_from(["callDate", "callerName", "agentId"]),
        "page": st.integers(1, 3),
        "rows": st.integers(1, 4),
    },
)


@st.composite
def requests(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    asked = draw(
        st.one_of(
            st.sampled_from(names),
            st.sampled_from([n.upper() for n in names] + [n + " " for n in names]),
            st.sampled_from(["nobody", "acme-x", "ACME1", ""]),
        )
    )
    return {
        "endpoint": draw(st.sampled_from(ENDPOINTS)),
        "region": draw(st.sampled_from(["us", "uk"])),
        "caller": draw(st.integers(0, len(names) - 1)),
        "body": {
            "page": 1,
            "rows": 10,
            "duration": "allhistory",
            **draw(filters),
            "tenantId": asked,
        },
    }


def _post(
    world: World, credential: IssuedCredential, endpoint: str, region: str, body: Any
) -> httpx.Response:
    return world.http.post(
        f"/customerexperience/v1/{endpoint}/{region}",
        json=body,
        headers={"8x8-apikey": credential.api_key, "token": credential.token},
    )


def _not_found_403(world: World, credential: IssuedCredential, endpoint: str, region: str) -> bytes:
    """The 403 body about a tenant that does not exist, for this endpoint and region."""
    key = f"{endpoint}/{region}"
    if key not in world.not_found_403:
        body = {"page": 1, "rows": 10, "duration": "allhistory", "tenantId": "no-such-tenant-ever"}
        answer = _post(world, credential, endpoint, region, body)
        assert answer.status_code == 403
        world.not_found_403[key] = answer.content
    return world.not_found_403[key]


def _judge(
    world: World,
    credential: IssuedCredential,
    own_calls: list[dict[str, Any]],
    request: dict[str, Any],
    answer: httpx.Response,
) -> None:
    endpoint, region, body = request["endpoint"], request["region"], request["body"]
    own, asked = credential.tenant_id, body["tenantId"]
    if not asked:
        assert answer.status_code == 400
        return
    if asked != own or region != credential.region:
        assert answer.status_code == 403, answer.text
        # Exists-but-not-yours and does-not-exist cannot be told apart.
        assert answer.content == _not_found_403(world, credential, endpoint, region)
        assert answer.headers["content-type"] == "application/problem+json"
        return
    assert answer.status_code == 200, answer.text
    document = answer.json()
    own_ids = {call["callId"] for call in own_calls}
    if endpoint == "recentCallData":
        assert document["hits"] <= len(own_calls)
        for item in document["data"]:
            assert item["tenantId"] == own
            assert item["callId"] in own_ids
            assert item["callerName"] == f"owner {own}"
        if set(body) <= {"tenantId", "page", "rows", "duration"}:
            assert document["hits"] == len(own_calls)
    elif endpoint == "recentCallStats":
        assert document["tenantId"] == own
        assert document["totals"]["calls"] <= len(own_calls)
        if set(body) <= {"tenantId", "page", "rows", "duration", "sortColumn"}:
            assert document["totals"]["calls"] == len(own_calls)
    else:
        assert document["tenantId"] == own
        assert set(document["agents"]) <= {f"ag-{own}"}
        assert set(document["queues"]) <= {f"q-{own}"}


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), made=tenants())
def test_no_request_returns_or_counts_another_tenants_call(
    world: World, data: st.DataObject, made: list[tuple[str, str, int]]
) -> None:
    run = next(_run)
    credentials, calls = [], []
    for stem, region, count in made:
        tenant_id = f"{stem}-r{run}"
        own_calls = _calls(tenant_id, count)
        credentials.append(add_tenant(world.storage, tenant_id, region, own_calls))
        calls.append(own_calls)
    names = [credential.tenant_id for credential in credentials]
    for request in data.draw(st.lists(requests(names), min_size=4, max_size=12)):
        credential = credentials[request["caller"]]
        answer = _post(world, credential, request["endpoint"], request["region"], request["body"])
        _judge(world, credential, calls[request["caller"]], request, answer)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(made=tenants(), region=st.sampled_from(["us", "uk"]), victim=st.integers(0, 3))
def test_a_push_for_another_tenant_stores_nothing_anywhere(
    world: World, made: list[tuple[str, str, int]], region: str, victim: int
) -> None:
    run = next(_run)
    credentials = []
    for stem, tenant_region, count in made:
        tenant_id = f"p{run}-{stem}"
        credentials.append(
            add_tenant(world.storage, tenant_id, tenant_region, _calls(tenant_id, count))
        )
    before = {c.tenant_id: world.storage.count_calls(c.tenant_id) for c in credentials}
    attacker, target = credentials[0], credentials[1 + victim % (len(credentials) - 1)]
    pushed = [make_call("c0", START, callerName="intruder"), make_call("new", START)]
    for tenant_id in (target.tenant_id, "no-such-tenant-ever"):
        answer = world.http.post(
            f"/customerexperience/v1/calls/{region}",
            json={"tenantId": tenant_id, "calls": pushed},
            headers={"8x8-apikey": attacker.api_key, "token": attacker.token},
        )
        assert answer.status_code == 403
    after = {c.tenant_id: world.storage.count_calls(c.tenant_id) for c in credentials}
    assert after == before
    found = world.http.post(
        f"/customerexperience/v1/recentCallData/{target.region}",
        json={"tenantId": target.tenant_id, "page": 1, "rows": 50, "duration": "allhistory"},
        headers={"8x8-apikey": target.api_key, "token": target.token},
    ).json()
    assert all(item["callerName"] != "intruder" for item in found["data"])
