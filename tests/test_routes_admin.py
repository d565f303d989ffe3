"""api/routes/admin.py: the admin API on the running server."""

from __future__ import annotations

from typing import Any

import pytest

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.admin.local import LocalAdmin
from recent_calls.demo import DEMO_TENANTS
from recent_calls.query.windows import MAX_EPOCH_MS
from recent_calls.storage.base import Storage
from tests.calls import make_call, rows_of
from tests.endpoints import ADMIN, LONE_ESCAPE, LONE_RAW, body_with, fields_of, raw
from tests.support import InProcessHTTP

START = 1710000000000


@pytest.mark.parametrize("text", [LONE_ESCAPE, LONE_RAW], ids=["escape", "raw"])
def test_a_lone_surrogate_in_a_tenant_label_is_a_400_and_creates_nothing(
    http: InProcessHTTP, storage: Storage, text: bytes
) -> None:
    body = body_with({"tenantId": "newco", "region": "us"}, "label", text)
    expected = ["label"] if text == LONE_ESCAPE else ["body"]
    assert fields_of(raw(http, "/admin/v1/tenants", body, **ADMIN)) == expected
    assert storage.get_tenant("newco") is None


def test_a_failing_tenant_create_leaves_no_tenant(storage: Storage) -> None:
    admin = LocalAdmin(storage)
    with pytest.raises(Exception):  # noqa: B017  the engine refuses the text itself
        admin.create_tenant("newco", "us", "\ud800")
    assert storage.get_tenant("newco") is None
    assert [e for e in admin.audit_log("newco", 10)] == []
    admin.create_tenant("newco", "us", "fine")
    with pytest.raises(Exception):  # noqa: B017  a duplicate
        admin.create_tenant("newco", "us", "again")
    assert len(admin.list_credentials("newco")) == 1


ADMIN_BODIES = [
    ("/admin/v1/tenants", "POST", {"tenantId": "t1", "region": "us", "label": "x"}),
    ("/admin/v1/tenants/acme/credentials", "POST", {"label": "x", "scopes": ["read"]}),
    ("/admin/v1/tenants/acme/sync-watermark", "PUT", {"source": "s", "watermarkMs": 5}),
    ("/admin/v1/demo", "POST", {"calls": 0, "seed": 1, "replace": False}),
    ("/admin/v1/tenants/acme", "PATCH", {"timezone": "Europe/London"}),
    ("/admin/v1/tenants/acme/retention", "PUT", {"retention": "400d"}),
    ("/admin/v1/retention/apply", "POST", {"tenantId": "acme"}),
    ("/admin/v1/tenants/acme/erase", "POST", {"number": "5551212", "name": None, "dryRun": True}),
    ("/admin/v1/tenants/acme/calls/erase", "POST", {"callIds": ["no-such-call"]}),
]


BAD_VALUES = [None, 2**70, -(2**70), "text", 1.5, True, [], {}, "\x00" * 300]


@pytest.mark.parametrize(("path", "method", "good"), ADMIN_BODIES)
def test_every_admin_body_field_with_a_bad_value_is_a_400_naming_it(
    http: InProcessHTTP,
    acme: IssuedCredential,
    storage: Storage,
    path: str,
    method: str,
    good: dict[str, Any],
) -> None:
    if path == "/admin/v1/demo":
        # `calls: null` means the default 20,000 per demo tenant; tenants that hold a call
        # already are not seeded again, so the body's checks are all this test spends time on.
        for tenant in DEMO_TENANTS:
            storage.create_tenant(tenant.tenant_id, tenant.region, timezone=tenant.timezone)
            storage.upsert_calls(tenant.tenant_id, rows_of(make_call("seeded", START)))
    for field in good:
        for value in BAD_VALUES:
            answer = http.request(method, path, json={**good, field: value}, headers=ADMIN)
            assert answer.status_code < 500, (field, value, answer.text)
            if answer.status_code == 400:
                assert fields_of(answer) == [field], (field, value)
            else:
                # null means absent (a default applies), or a value that is merely unusual
                assert answer.status_code in (200, 201, 204, 404, 409), (field, value, answer.text)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("fromMs=-1&toMs=5", "fromMs"),
        ("fromMs=0&toMs=" + str(2**70), "toMs"),
        ("toMs=5", "fromMs"),
        ("fromMs=0&toMs=5&limit=0", "limit"),
        ("fromMs=0&toMs=5&limit=10001", "limit"),
        ("fromMs=0&toMs=5&after=a%00b", "after"),
        ("fromMs=0&toMs=5&after=" + "a" * 257, "after"),
    ],
)
def test_a_bad_call_ids_query_is_a_400_naming_it(
    http: InProcessHTTP, acme: IssuedCredential, query: str, field: str
) -> None:
    answer = http.request("GET", f"/admin/v1/tenants/acme/call-ids?{query}", headers=ADMIN)
    assert answer.status_code == 400, answer.text
    assert fields_of(answer) == [field]


def test_calls_erased_by_id_are_only_the_tenants_own(
    http: InProcessHTTP, acme: IssuedCredential, storage: Storage
) -> None:
    for tenant_id in ("acme", "other"):
        storage.upsert_calls(tenant_id, rows_of(make_call("shared-id", START + 5)))
    ids = http.request(
        "GET", f"/admin/v1/tenants/acme/call-ids?fromMs={START + 1}&toMs={START + 9}", headers=ADMIN
    )
    assert ids.json() == ["shared-id"]
    body = {"callIds": ["shared-id", "not-here"]}
    answer = http.request("POST", "/admin/v1/tenants/acme/calls/erase", json=body, headers=ADMIN)
    assert answer.json() == {"erased": 1}
    assert storage.count_calls("acme") == 1 and storage.count_calls("other") == 2
    for text, field in ((LONE_ESCAPE, "callIds[0]"), (LONE_RAW, "body")):
        lone = b'{"callIds": [' + text + b"]}"
        assert fields_of(raw(http, "/admin/v1/tenants/other/calls/erase", lone, **ADMIN)) == [field]
    assert storage.count_calls("other") == 2


def test_a_sync_watermark_of_2_to_the_70_is_a_400(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    path = "/admin/v1/tenants/acme/sync-watermark"
    body = {"source": "s", "watermarkMs": 2**70}
    assert fields_of(http.request("PUT", path, json=body, headers=ADMIN)) == ["watermarkMs"]
    ok = http.request("PUT", path, json={**body, "watermarkMs": MAX_EPOCH_MS}, headers=ADMIN)
    assert ok.status_code == 204


def test_a_sync_watermark_source_with_a_nul_is_a_400_on_both_engines(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    # The PUT's body refused it; the GET's query string went on to PostgreSQL: a 500.
    path = "/admin/v1/tenants/acme/sync-watermark?source=a%00b"
    assert fields_of(http.request("GET", path, headers=ADMIN)) == ["source"]
    fine = http.request("GET", "/admin/v1/tenants/acme/sync-watermark?source=ab", headers=ADMIN)
    assert fine.status_code == 200, fine.text


def test_the_admin_api_checks_its_token_before_it_reads_the_body(http: InProcessHTTP) -> None:
    for path in ("/admin/v1/tenants", "/admin/v1/demo", "/admin/v1/tenants/acme/credentials"):
        assert raw(http, path, b"{not json").status_code == 401
        assert raw(http, path, b"{not json", Authorization="Bearer wrong").status_code == 401
        assert raw(http, path, b"{not json", **ADMIN).status_code == 400
