"""/metrics in the Prometheus text format, /readyz beside /healthz (issue 12, operability)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.calls import make_call
from tests.support import LiveServer, ServerFactory

DATA = "/customerexperience/v1/recentCallData/us"
BODY = {"tenantId": "acme", "page": 1, "rows": 1, "duration": "allhistory"}


def samples(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = server.http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_requests_latency_push_and_pool_are_counted(server: LiveServer, engine: str) -> None:
    credential = server.tenant("acme")
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    for _ in range(3):
        assert server.post(BODY, credential).status_code == 200
    assert server.post({**BODY, "rows": "x"}, credential).status_code == 400
    assert server.http.post("/no/such/path/1").status_code == 404
    assert server.http.post("/no/such/path/2").status_code == 404
    calls = [make_call(f"p{i}", 1710000000000 + i) for i in range(4)]
    pushed = server.http.post(
        "/customerexperience/v1/calls/us",
        json={"tenantId": "acme", "calls": calls},
        headers=headers,
    )
    assert pushed.status_code == 200
    found = samples(server)
    route = "/customerexperience/{version}/recentCallData/{region}"
    assert (
        found[
            (
                "recent_calls_requests_total",
                (("method", "POST"), ("route", route), ("status", "200")),
            )
        ]
        == 3
    )
    assert (
        found[
            (
                "recent_calls_requests_total",
                (("method", "POST"), ("route", route), ("status", "400")),
            )
        ]
        == 1
    )
    unmatched = (("method", "POST"), ("route", "unmatched"), ("status", "404"))
    assert found[("recent_calls_requests_total", unmatched)] == 2  # one series, not one per path
    count = found[
        ("recent_calls_request_duration_seconds_count", (("method", "POST"), ("route", route)))
    ]
    assert count == 4
    assert found[("recent_calls_pushed_calls_total", ())] == 4
    assert found[("recent_calls_push_batches_total", ())] == 1
    size = found[("recent_calls_pool_connections", (("engine", engine), ("state", "size")))]
    assert size >= 1


def test_rate_limit_rejections_are_counted(make_server: ServerFactory) -> None:
    server = make_server(rate_limit_burst=2, rate_limit_per_s=0.001)
    credential = server.tenant("acme")
    statuses = [server.post(BODY, credential).status_code for _ in range(5)]
    assert statuses.count(429) == 3
    assert samples(server)[("recent_calls_rate_limited_total", ())] == 3


def test_readyz_and_healthz_answer_while_the_database_does(server: LiveServer) -> None:
    ready = server.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert server.http.get("/healthz").json()["status"] == "ok"
    server.storage.close()
    assert server.http.get("/readyz").status_code == 503
    assert server.http.get("/healthz").status_code == 503
