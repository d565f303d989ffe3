"""The admin API and its client (`RemoteAdmin`): ids in paths, case-insensitive tenant ids,
and structured problem documents."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from recent_calls.admin.local import LocalAdmin
from recent_calls.admin.remote import RemoteAdmin
from recent_calls.errors import (
    Conflict,
    DuplicateTenant,
    ImportRejected,
    InvalidRequest,
    NotFound,
)
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.support import NOW, LiveServer, ServerFactory
from tests.upstream import answer, upstream

START = NOW - 3_600_000

ADMIN_TOKEN = "admin-token-for-tests"


@dataclass
class Admined:
    server: LiveServer
    admin: RemoteAdmin


@pytest.fixture
def admined(make_server: ServerFactory) -> Iterator[Admined]:
    server = make_server(admin_token=ADMIN_TOKEN)
    admin = RemoteAdmin(server.url, ADMIN_TOKEN, retries=0)
    yield Admined(server, admin)
    admin.close()


def _live_keys(server: LiveServer, tenant_id: str) -> set[str]:
    return {c.key_id for c in server.storage.list_credentials(tenant_id) if c.revoked_ms is None}


@pytest.mark.parametrize(
    ("tenant_id", "key_id", "field"),
    [
        ("other", "../../victim/credentials/{key}", "keyId"),
        ("other/../victim", "{key}", "tenantId"),
        ("other%2F..%2Fvictim", "{key}", "tenantId"),
        ("..", "{key}", "tenantId"),
    ],
)
def test_the_client_refuses_ids_that_would_leave_their_path_segment(
    admined: Admined, tenant_id: str, key_id: str, field: str
) -> None:
    admined.server.tenant("other")
    victim = admined.server.tenant("victim")
    key = key_id.format(key=victim.key_id)
    with pytest.raises(InvalidRequest) as refused:
        admined.admin.revoke_credential(tenant_id, key)
    assert [e.field for e in refused.value.errors] == [field]
    with pytest.raises(InvalidRequest):
        admined.admin.list_credentials(tenant_id if field == "tenantId" else "other/../victim")
    assert _live_keys(admined.server, "victim") == {victim.key_id}


def test_every_path_segment_is_encoded(admined: Admined) -> None:
    seen: list[str] = []
    admined.admin.http.event_hooks["request"] = [lambda r: seen.append(r.url.raw_path.decode())]
    admined.server.tenant("a.b_c-1")
    admined.admin.list_credentials("a.b_c-1")
    admined.admin.get_sync_watermark("a.b_c-1", "x")
    assert seen[0] == "/admin/v1/tenants/a.b_c-1/credentials"
    assert seen[1].startswith("/admin/v1/tenants/a.b_c-1/sync-watermark?")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/v1/tenants/-x/credentials", "tenantId"),
        ("/admin/v1/tenants/a%20b/credentials", "tenantId"),
        ("/admin/v1/tenants/%2E%2E/directory", "tenantId"),
        ("/admin/v1/tenants/" + "a" * 129 + "/credentials", "tenantId"),
        ("/admin/v1/tenants/victim/credentials/a%20b", "keyId"),
        ("/admin/v1/audit?tenantId=a%00b", "tenantId"),
    ],
)
def test_the_server_refuses_what_cannot_be_a_tenant_or_key_id(
    admined: Admined, path: str, field: str
) -> None:
    admined.server.tenant("victim")
    method = "DELETE" if "/credentials/" in path else "GET"
    answer = admined.admin.http.request(method, path)
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def _three_lines() -> bytes:
    bad_twice = make_call("a", START, callDuration="-5", transferCount="x")
    calls = [bad_twice, make_call("b", START), make_call("c", START, callDuration="-1")]
    return b"\n".join(orjson.dumps(call) for call in calls)


def test_a_rejected_import_counts_lines_not_errors(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    with pytest.raises(ImportRejected) as rejected:
        LocalAdmin(storage).import_file(
            "acme", io.BytesIO(_three_lines()), timezone="GMT", skip_invalid=False
        )
    assert str(rejected.value) == "2 of 3 lines are invalid; nothing was imported"
    assert (rejected.value.total, rejected.value.invalid, len(rejected.value.errors)) == (3, 2, 3)


def test_a_rejected_import_answers_its_counts_as_fields(admined: Admined) -> None:
    admined.server.tenant("acme")
    answer = admined.admin.http.post(
        "/admin/v1/tenants/acme/import",
        content=_three_lines(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 400
    assert (answer.json()["lines"], answer.json()["invalid"]) == (3, 2)
    with pytest.raises(ImportRejected) as rejected:
        admined.admin.import_file(
            "acme", io.BytesIO(_three_lines()), timezone="GMT", skip_invalid=False
        )
    assert (rejected.value.total, rejected.value.invalid) == (3, 2)
    assert [e.field for e in rejected.value.errors] == ["line 1", "line 1", "line 3"]


def test_the_admin_client_reads_an_import_answer_with_counts_it_does_not_know() -> None:
    counts = {"lines": 3, "received": 3, "inserted": 1, "replaced": 1, "kept": 1, "invalid": 0}
    later = {**counts, "errors": [], "somethingLater": 7}  # a newer server's answer

    def imports(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, orjson.dumps(later))

    with upstream(imports) as (url, _):
        admin = RemoteAdmin(url, ADMIN_TOKEN, retries=0)
        try:
            source = io.BytesIO(b"{}")
            report = admin.import_file("acme", source, timezone="GMT", skip_invalid=False)
        finally:
            admin.close()
    assert {key: value for key, value in report.as_json().items() if key != "errors"} == counts


def test_the_admin_client_reads_the_counts_not_the_words() -> None:
    problem = {
        "title": "Bad Request",
        "status": 400,
        "detail": "Zwei von drei Zeilen sind ungültig.",
        "lines": 3,
        "invalid": 2,
        "errors": [{"field": "line 1", "message": "x"}, {"field": "line 3", "message": "y"}],
    }

    def refuses(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, orjson.dumps(problem), "400 Bad Request")

    with upstream(refuses) as (url, _):
        admin = RemoteAdmin(url, ADMIN_TOKEN, retries=0)
        try:
            with pytest.raises(ImportRejected) as rejected:
                admin.import_file("acme", io.BytesIO(b"{}"), timezone="GMT", skip_invalid=False)
        finally:
            admin.close()
    assert (rejected.value.total, rejected.value.invalid) == (3, 2)


def test_tenant_ids_that_differ_only_in_case_cannot_coexist(admined: Admined) -> None:
    local = LocalAdmin(admined.server.storage)
    local.create_tenant("acmecorp01", "us")
    with pytest.raises(Conflict, match="tenant 'acmecorp01' exists; tenant ids that differ only"):
        local.create_tenant("AcmeCorp01", "us")
    answer = admined.admin.http.post(
        "/admin/v1/tenants", json={"tenantId": "ACMECORP01", "region": "uk"}
    )
    assert answer.status_code == 409 and "'acmecorp01' exists" in answer.json()["detail"]
    assert [t.tenant_id for t in admined.server.storage.list_tenants()] == ["acmecorp01"]
    with pytest.raises(DuplicateTenant, match="already exists"):
        local.create_tenant("acmecorp01", "us")  # the same id: the duplicate it always was


def test_a_tenant_zone_is_set_at_creation_and_changed_through_the_server(
    admined: Admined,
) -> None:
    storage = admined.server.storage
    admined.admin.create_tenant("britco", "uk", timezone="Europe/London")
    tenant = storage.get_tenant("britco")
    assert tenant is not None and tenant.timezone == "Europe/London"
    admined.admin.set_tenant("britco", timezone="America/Los_Angeles")
    tenant = storage.get_tenant("britco")
    assert tenant is not None and tenant.timezone == "America/Los_Angeles"
    admined.admin.set_tenant("britco", timezone="")  # cleared: the console uses the browser's
    tenant = storage.get_tenant("britco")
    assert tenant is not None and tenant.timezone is None
    actions = [e["action"] for e in admined.admin.audit_log("britco", 10)]
    assert actions == ["tenant.set", "tenant.set", "tenant.create"]


def test_a_tenant_zone_that_is_no_zone_is_refused_by_name_and_changes_nothing(
    admined: Admined,
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        admined.admin.create_tenant("britco", "uk", timezone="Europe/Londn")
    assert [e.field for e in refused.value.errors] == ["timezone"]
    assert "Europe/Londn" in refused.value.errors[0].message
    assert admined.server.storage.get_tenant("britco") is None
    admined.admin.create_tenant("britco", "uk", timezone="Europe/London")
    with pytest.raises(InvalidRequest) as refused:
        admined.admin.set_tenant("britco", timezone="../etc/passwd")
    assert "IANA time zone" in refused.value.errors[0].message
    answer = admined.admin.http.patch("/admin/v1/tenants/britco", json={"timezone": 7})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "timezone"
    tenant = admined.server.storage.get_tenant("britco")
    assert tenant is not None and tenant.timezone == "Europe/London"
    with pytest.raises(NotFound, match="'nobody' does not exist"):
        admined.admin.set_tenant("nobody", timezone="UTC")


def test_the_demo_tenants_get_their_rosters_zones_also_when_seeded_before(
    storage: Storage,
) -> None:
    storage.create_tenant("britco01", "uk")  # as a database seeded before tenants had zones
    LocalAdmin(storage).seed_demo(0, 7, replace=False)
    zones = {t.tenant_id: t.timezone for t in storage.list_tenants()}
    assert zones == {"acmecorp01": "America/New_York", "britco01": "Europe/London"}
