"""Live push: POST /customerexperience/v1/calls/{region}, atomic per batch, idempotent."""

from __future__ import annotations

from typing import Any

from tests.calls import make_call
from tests.conftest import LiveServer

START = 1710000000000


def push(server: LiveServer, credential: Any, body: Any, region: str = "us") -> Any:
    return server.http.post(
        f"/customerexperience/v1/calls/{region}",
        json=body,
        headers={"8x8-apikey": credential.api_key, "token": credential.token},
    )


def hits(server: LiveServer, credential: Any) -> int:
    body = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}
    return int(server.post(body, credential).json()["hits"])


def test_a_pushed_batch_is_visible_at_once_and_idempotent(server: LiveServer) -> None:
    credential = server.tenant("acme")
    batch = {"tenantId": "acme", "calls": [make_call(f"c{i}", START + i) for i in range(5)]}
    first = push(server, credential, batch)
    assert first.status_code == 200
    assert first.json() == {"received": 5, "inserted": 5, "replaced": 0}
    again = push(server, credential, batch)
    assert again.json() == {"received": 5, "inserted": 0, "replaced": 5}
    assert hits(server, credential) == 5


def test_a_batch_with_a_bad_call_stores_nothing_and_names_it(server: LiveServer) -> None:
    credential = server.tenant("acme")
    calls = [make_call("ok", START), make_call("bad", START, waitTime="soon"), "not a call"]
    response = push(server, credential, {"tenantId": "acme", "calls": calls})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["calls[1]", "calls[2]"]
    assert hits(server, credential) == 0


def test_pushing_into_another_tenant_is_forbidden(server: LiveServer) -> None:
    credential = server.tenant("acme")
    server.tenant("other")
    response = push(server, credential, {"tenantId": "other", "calls": [make_call("x", START)]})
    assert response.status_code == 403
    assert (
        push(server, credential, {"tenantId": "acme", "calls": []}, region="uk").status_code == 403
    )


def test_ingestion_needs_credentials_and_a_well_formed_body(server: LiveServer) -> None:
    credential = server.tenant("acme")
    anonymous = server.http.post("/customerexperience/v1/calls/us", json={"calls": []})
    assert anonymous.status_code == 401
    response = push(server, credential, {"calls": "nope"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"tenantId", "calls"}
