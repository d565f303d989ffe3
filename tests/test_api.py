"""The recentCallData endpoint over real HTTP: checks, shape, filters, paging, ordering."""

from __future__ import annotations

from typing import Any

import pytest

from tests.calls import make_call
from tests.support import LiveServer

HOUR = 3_600_000
BASE = 1710345600000 - 10 * 24 * HOUR  # ten days before the frozen now


def body(tenant: str = "acme", **fields: Any) -> dict[str, Any]:
    return {"tenantId": tenant, "page": 1, "rows": 100, "duration": "allhistory", **fields}


def test_the_reference_response_shape_keys_and_types(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call(
                "int-1",
                1642059751000,
                callDuration="335566",
                queueId=["2583"],
                agentCallHandlingDuration="310887.0",
                muteDuration=10462,
                agentId="agAD21EBR1RhuV2TNDivjzzz,",
                transactionId="6264 6270 6273",
                holdDuration=155960,
                maximumHoldDuration="137641.0",
            ),
        ],
    )
    response = api.post(body(timezone="America/Los_Angeles"), credential)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert list(document) == [
        "hits",
        "alertBellCount",
        "sortColumn",
        "data",
        "autoRefresh",
        "columns",
        "timezone",
        "sortOrder",
        "page",
        "rows",
    ]
    assert document["hits"] == 1
    assert document["timezone"] == "America/Los_Angeles"
    assert document["sortColumn"] is None and document["sortOrder"] is None
    item = document["data"][0]
    assert list(item)[:5] == [
        "callDuration",
        "queueId",
        "agentCallHandlingDuration",
        "callDate",
        "agentId",
    ]
    assert len(item) == 31
    assert item["callDuration"] == "335566"
    assert item["agentCallHandlingDuration"] == "310887.0"
    assert item["holdDuration"] == "155960.0"
    assert item["muteDuration"] == 10462
    # 2022-01-13T07:42:31Z is 23:42:31 the day before in Los Angeles.
    assert item["callDate"] == "01/12/2022 23:42:31"
    assert item["callDateOnly"] == "01/12/2022"
    assert item["callTime"] == "23:42:31"
    assert item["agentId"] == "agAD21EBR1RhuV2TNDivjzzz"
    assert item["transactionId"] == "6264 6270 6273"
    assert item["postCallSurvey"] == "[]" and item["voiceComment"] == "{}"
    assert item["tenantId"] == "acme"
    for key, value in item.items():
        assert isinstance(value, int if key == "muteDuration" else str), key


def test_missing_or_unknown_credentials_are_401(api: LiveServer) -> None:
    api.tenant("acme")
    assert api.post(body()).status_code == 401
    response = api.post(body(), headers={"8x8-apikey": "nope", "token": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_the_key_header_may_be_spelled_either_way(api: LiveServer) -> None:
    credential = api.tenant("acme")
    headers = {"8x8-api-key": credential.api_key, "token": credential.token}
    assert api.post(body(), headers=headers).status_code == 200


def test_another_tenants_name_and_a_missing_tenant_answer_the_same_403(api: LiveServer) -> None:
    mine = api.tenant("acme")
    api.tenant("other", calls=[make_call("x", BASE)])
    exists = api.post(body("other"), mine)
    missing = api.post(body("nobody"), mine)
    wrong_region = api.post(body("acme"), mine, region="uk")
    assert exists.status_code == missing.status_code == wrong_region.status_code == 403
    assert exists.content == missing.content == wrong_region.content


def test_checks_run_in_the_specified_order(api: LiveServer) -> None:
    credential = api.tenant("acme")
    # Bad route beats bad credentials; bad credentials beat a bad body.
    assert api.http.post("/customerexperience/v2/recentCallData/us").status_code == 404
    assert api.http.post("/customerexperience/v1/recentCallData/eu").status_code == 404
    assert api.post(None, content=b"{", headers={"content-type": "text/plain"}).status_code == 401
    # Size, then type, then JSON, then fields, then the tenant binding.
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    too_big = api.post(None, credential, content=big, headers={"content-type": "text/plain"})
    assert too_big.status_code == 413
    assert (
        api.post(
            None, credential, content=b"{}", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert (
        api.post(
            None, credential, content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    no_tenant = api.post({"page": 1, "rows": 1, "duration": "today"}, credential)
    assert no_tenant.status_code == 400
    assert [e["field"] for e in no_tenant.json()["errors"]] == ["tenantId"]
    assert api.post(body("someone-else"), credential).status_code == 403


def test_a_charset_parameter_is_accepted(api: LiveServer) -> None:
    credential = api.tenant("acme")
    response = api.post(
        None,
        credential,
        content=b'{"tenantId":"acme","page":1,"rows":1,"duration":"today"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_every_bad_field_is_reported_at_once(api: LiveServer) -> None:
    credential = api.tenant("acme")
    response = api.post(
        {
            "tenantId": "acme",
            "page": 0,
            "rows": 5001,
            "timezone": "Mars/Base",
            "callerName": ["a", "b"],
            "transferCount": "range:3,1",
            "callDuration": "hrs:1,2",
        },
        credential,
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400 and problem["title"] and problem["type"] and problem["detail"]
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {
        "page",
        "rows",
        "timezone",
        "callerName",
        "transferCount",
        "callDuration",
        "duration",
    }
    assert all("expected" in error["message"] for error in problem["errors"])


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"3", b"null"])
def test_a_body_that_is_not_an_object_is_reported_on_body(api: LiveServer, payload: bytes) -> None:
    credential = api.tenant("acme")
    response = api.post(
        None, credential, content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


def test_unknown_paths_are_problem_documents(api: LiveServer) -> None:
    response = api.http.get("/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_healthz_answers_once_ready(api: LiveServer) -> None:
    response = api.http.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_the_openapi_document_describes_the_real_request_and_response(api: LiveServer) -> None:
    document = api.http.get("/openapi.json").json()
    operation = document["paths"]["/customerexperience/{version}/recentCallData/{region}"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"tenantId", "page", "rows", "duration", "timeRange", "callerName"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"tenantId", "page", "rows"}
    assert "RecentCallsResponse" in str(operation["responses"]["200"])
    assert api.http.get("/docs").status_code == 200


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["callId"] for item in response.json()["data"]]


def test_default_order_is_newest_first_with_call_id_breaking_ties(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call("a", BASE),
            make_call("c", BASE + HOUR),
            make_call("b", BASE + HOUR),
        ],
    )
    assert _ids(api.post(body(), credential)) == ["c", "b", "a"]


def test_pages_walk_every_call_exactly_once(api: LiveServer) -> None:
    calls = [make_call(f"c{i:03d}", BASE + (i // 3) * HOUR) for i in range(50)]
    credential = api.tenant("acme", calls=calls)
    seen: list[str] = []
    for page in range(1, 10):
        response = api.post(body(page=str(page), rows="7"), credential)
        assert response.json()["hits"] == 50
        assert response.json()["page"] == page and response.json()["rows"] == 7
        seen += _ids(response)
    assert len(seen) == len(set(seen)) == 50
    expected = sorted(calls, key=lambda c: (c["startTime"], c["callId"]), reverse=True)
    assert seen == [c["callId"] for c in expected]
    past_end = api.post(body(page=99, rows=7), credential).json()
    assert past_end["data"] == [] and past_end["hits"] == 50


def test_sort_extension_orders_and_breaks_ties_in_the_same_direction(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call("a", BASE, callerName="bob"),
            make_call("b", BASE + HOUR, callerName="Alice"),
            make_call("c", BASE + 2 * HOUR, callerName="alice"),
            make_call("d", BASE, callerName="Carl"),
        ],
    )
    ascending = api.post(body(sortColumn="callerName", sortOrder="asc"), credential)
    assert _ids(ascending) == ["b", "c", "a", "d"]
    assert ascending.json()["sortColumn"] == "callerName" and ascending.json()["sortOrder"] == "asc"
    descending = api.post(body(sortColumn="callerName"), credential)
    assert _ids(descending) == ["d", "a", "c", "b"]
    assert _ids(api.post(body(sortOrder="asc"), credential)) == ["a", "d", "b", "c"]
    bad = api.post(body(sortColumn="nope", sortOrder="up"), credential)
    assert {e["field"] for e in bad.json()["errors"]} == {"sortColumn", "sortOrder"}


def test_caller_search_is_a_literal_case_insensitive_substring(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call("a", BASE, callerName="Ömer Yılmaz", callerNumber="7325551212"),
            make_call("b", BASE + 1, callerName="100% Real_Co", callerNumber="18885550000"),
            make_call("c", BASE + 2, callerName="Someone", callerNumber="4405559999"),
        ],
    )
    assert _ids(api.post(body(callerName=["ömer"]), credential)) == ["a"]
    assert _ids(api.post(body(callerName=["5551212"]), credential)) == ["a"]
    assert _ids(api.post(body(callerName=["0% real_"]), credential)) == ["b"]
    assert _ids(api.post(body(callerName=["%"]), credential)) == ["b"]
    assert _ids(api.post(body(callerName=["_"]), credential)) == ["b"]
    assert len(_ids(api.post(body(callerName=[]), credential))) == 3
    assert len(_ids(api.post(body(callerName=[""]), credential))) == 3


def test_list_filters_match_any_of_the_calls_values(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call(
                "a", BASE, agentId="ag1,ag2", queueId="q1", agentGroup="g1", dialedNumber="1800"
            ),
            make_call(
                "b",
                BASE + 1,
                agentId=["ag3"],
                queueId="q2,q3",
                agentGroup="g2",
                dialedNumber="1900",
            ),
        ],
    )
    assert _ids(api.post(body(tenantAgents=["ag2", "zzz"]), credential)) == ["a"]
    assert _ids(api.post(body(tenantQueues=["q3"]), credential)) == ["b"]
    assert _ids(api.post(body(tenantGroups=["g1", "g2"]), credential)) == ["b", "a"]
    assert _ids(api.post(body(tenantChannels=["1900"]), credential)) == ["b"]
    assert _ids(api.post(body(tenantAgents=[]), credential)) == ["b", "a"]


def test_range_filters_are_inclusive_and_truncate_to_whole_units(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call("a", BASE, callDuration="4999", transferCount="0.0", agentHoldCount=0),
            make_call("b", BASE + 1, callDuration="5000", transferCount="2.0", agentHoldCount=2),
            make_call("c", BASE + 2, callDuration="5999", transferCount="3.0", agentMuteCount=1),
            make_call("d", BASE + 3, callDuration="6000", holdDuration="61000.0"),
        ],
    )
    assert _ids(api.post(body(callDuration="sec:5,5"), credential)) == ["c", "b"]
    assert _ids(api.post(body(callDuration="sec:6,-1"), credential)) == ["d"]
    assert _ids(api.post(body(callDuration="sec:-1,4"), credential)) == ["a"]
    assert _ids(api.post(body(transferCount="range:2,3"), credential)) == ["c", "b"]
    assert _ids(api.post(body(agentHoldCount="range:2,-1"), credential)) == ["b"]
    assert _ids(api.post(body(agentMuteCount="range:1,1"), credential)) == ["c"]
    assert _ids(api.post(body(agentHoldDuration="min:1,1"), credential)) == ["d"]


def test_time_range_is_inclusive_in_milliseconds_and_tolerates_spaces(api: LiveServer) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call("a", BASE),
            make_call("b", BASE + 1000),
            make_call("c", BASE + 2000),
        ],
    )
    window = body(duration=None, timeRange=f"{BASE + 1000} - {BASE + 2000}")
    assert _ids(api.post(window, credential)) == ["c", "b"]
    window = body(duration="", timeRange=f"{BASE}-{BASE + 999}")
    assert _ids(api.post(window, credential)) == ["a"]
    # duration wins, and a malformed timeRange beside it is ignored
    assert len(_ids(api.post(body(timeRange="garbage"), credential))) == 3


def test_duration_today_is_computed_in_the_requested_zone(api: LiveServer) -> None:
    # Frozen now: 2024-03-13 16:00Z = 12:00 in New York (EDT), 05:00 on the 14th in Auckland.
    credential = api.tenant(
        "acme",
        calls=[
            make_call("ny-morning", 1710331200000),  # 2024-03-13 08:00 EDT
            make_call("ny-yesterday", 1710288000000),  # 2024-03-13 00:00Z = 03-12 20:00 EDT
            make_call("akl-today", 1710327600000),  # 2024-03-14 00:00 NZDT
        ],
    )
    ny = api.post(body(duration="today", timezone="America/New_York"), credential)
    assert _ids(ny) == ["ny-morning", "akl-today"]
    akl = api.post(body(duration="today", timezone="Pacific/Auckland"), credential)
    assert _ids(akl) == ["ny-morning", "akl-today"]
    gmt_yesterday = api.post(body(duration="yesterday"), credential)
    assert _ids(gmt_yesterday) == []
