"""Live push: POST /customerexperience/v1/calls/{region}, atomic per batch, idempotent."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.calls import make_call
from tests.support import LiveServer, ServerFactory

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


def test_concurrent_pushes_while_others_page_lose_and_duplicate_nothing(
    make_server: ServerFactory,
) -> None:
    """Writers push overlapping batches while readers page the same tenant; nothing fails."""
    # The readers page as fast as they can for as long as the pushes take: on a slow run that
    # was past the credential's rate limit, which is not what this test is about.
    server = make_server(rate_limit_per_s=0)
    credential = server.tenant("acme")
    writers, batches, size = 4, 6, 25
    failures: list[str] = []
    done = threading.Event()

    passes = [0] * 3

    def guarded(work: Any) -> Any:
        def run(*args: Any) -> None:
            try:
                work(*args)
            except Exception as exc:  # a thread's exception would otherwise only warn
                failures.append(f"{work.__name__}: {exc!r}")

        return run

    def write(writer: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for batch in range(batches):
                # Every writer also re-sends its previous batch's last call: idempotent by callId.
                numbers = list(range(batch * size - (1 if batch else 0), (batch + 1) * size))
                calls = [make_call(f"w{writer}-{n}", START + n * 10 + writer) for n in numbers]
                response = http.post(
                    "/customerexperience/v1/calls/us",
                    json={"tenantId": "acme", "calls": calls},
                    headers={"8x8-apikey": credential.api_key, "token": credential.token},
                )
                if response.status_code != 200:
                    failures.append(f"push {response.status_code}: {response.text}")

    def read(reader: int) -> None:
        seen_hits = 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not done.is_set():
                for page in (1, 2, 3):
                    body = {"tenantId": "acme", "page": page, "rows": 20, "duration": "allhistory"}
                    response = http.post(
                        "/customerexperience/v1/recentCallData/us",
                        json=body,
                        headers={"8x8-apikey": credential.api_key, "token": credential.token},
                    )
                    if response.status_code != 200:
                        failures.append(f"page {response.status_code}: {response.text}")
                        return
                    document = response.json()
                    ids = [call["callId"] for call in document["data"]]
                    if len(ids) != len(set(ids)) or document["hits"] < seen_hits:
                        failures.append(f"inconsistent page: {document['hits']} after {seen_hits}")
                    seen_hits = document["hits"]
                passes[reader] += 1

    readers = [threading.Thread(target=guarded(read), args=(r,)) for r in range(3)]
    pushers = [threading.Thread(target=guarded(write), args=(w,)) for w in range(writers)]
    for thread in [*readers, *pushers]:
        thread.start()
    for thread in pushers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert failures == []
    assert all(passes), passes  # every reader paged while the writers wrote

    expected = {f"w{w}-{i}" for w in range(writers) for i in range(batches * size)}
    assert hits(server, credential) == len(expected)
    walked: list[str] = []
    for page in range(1, len(expected) // 100 + 2):
        body = {"tenantId": "acme", "page": page, "rows": 100, "duration": "allhistory"}
        walked += [call["callId"] for call in server.post(body, credential).json()["data"]]
    assert sorted(walked) == sorted(expected)
