"""Credential rotation (old and new both valid for a grace period) and the admin audit trail."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from recent_calls.admin.credentials import Authenticator, IssuedCredential, parse_grace
from recent_calls.admin.local import LocalAdmin
from recent_calls.cli.main import main
from recent_calls.errors import NotFound, Unauthorized
from recent_calls.storage.base import Storage
from tests.calls import SteppedClock, make_call
from tests.support import ServerFactory

HOUR_MS = 3_600_000
BODY = {"page": 1, "rows": 1, "duration": "allhistory"}


def _valid(storage: Storage, credential: IssuedCredential) -> bool:
    try:
        Authenticator(storage, storage.clock, ttl_s=0).authenticate(
            credential.api_key, credential.token
        )
    except Unauthorized:
        return False
    return True


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("30m", 1_800_000), ("24h", 86_400_000), ("7d", 604_800_000), ("15", 15_000)],
)
def test_grace_periods_read_as_durations(text: str, ms: int) -> None:
    assert parse_grace(text) == ms


@pytest.mark.parametrize("text", ["", "h", "-1h", "1.5h", "1w", "soon", "\u00b2h", "\u0663"])
def test_bad_grace_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_grace(text)


def test_after_a_rotation_old_and_new_both_work_until_the_grace_ends(storage: Storage) -> None:
    clock = storage.clock = SteppedClock(1_710_345_600_000)
    admin = LocalAdmin(storage, actor="test")
    old = admin.create_tenant("acme", "us")
    new = admin.rotate_credential("acme", old.key_id, HOUR_MS)
    assert new.key_id != old.key_id and new.api_key != old.api_key
    assert _valid(storage, old) and _valid(storage, new)
    listed = {c["keyId"]: c for c in admin.list_credentials("acme")}
    assert listed[old.key_id]["revokedMs"] == clock() + HOUR_MS
    assert listed[new.key_id]["revokedMs"] is None
    # Revoking during the grace period ends it at once.
    admin.revoke_credential("acme", old.key_id)
    assert not _valid(storage, old) and _valid(storage, new)


def test_a_rotation_without_grace_retires_the_old_credential_at_once(storage: Storage) -> None:
    admin = LocalAdmin(storage, actor="test")
    old = admin.create_tenant("acme", "us")
    new = admin.rotate_credential("acme", old.key_id, 0)
    assert not _valid(storage, old) and _valid(storage, new)
    with pytest.raises(NotFound):  # a retired credential cannot be rotated again
        admin.rotate_credential("acme", old.key_id, HOUR_MS)
    with pytest.raises(NotFound):
        admin.rotate_credential("acme", "nosuchkey", HOUR_MS)
    with pytest.raises(NotFound):
        admin.rotate_credential("nobody", new.key_id, HOUR_MS)


def test_the_old_credential_stops_at_the_end_of_its_grace_over_http(
    make_server: ServerFactory,
) -> None:
    clock = SteppedClock(1_710_345_600_000)
    server = make_server(clock=clock)
    old = server.tenant("acme")
    new = LocalAdmin(server.storage, clock, actor="test").rotate_credential(
        "acme", old.key_id, 1500
    )
    body = {**BODY, "tenantId": "acme"}
    assert server.post(body, old).status_code == 200
    assert server.post(body, new).status_code == 200
    clock.advance(1499)
    assert server.post(body, old).status_code == 200
    clock.advance(1)
    assert server.post(body, old).status_code == 401
    assert server.post(body, new).status_code == 200


def test_every_admin_action_is_in_the_audit_trail_without_secrets(storage: Storage) -> None:
    admin = LocalAdmin(storage, actor="cli:alice")
    first = admin.create_tenant("acme", "us")
    second = admin.create_credential("acme", "ci")
    third = admin.rotate_credential("acme", first.key_id, HOUR_MS)
    admin.revoke_credential("acme", second.key_id)
    admin.import_file("acme", _jsonl(), timezone="GMT", skip_invalid=False)
    trail = admin.audit_log("acme", 100)
    assert [e["action"] for e in reversed(trail)] == [
        "tenant.create",
        "credential.create",
        "credential.rotate",
        "credential.revoke",
        "calls.import",
    ]
    assert {e["actor"] for e in trail} == {"cli:alice"}
    assert trail[2]["keyId"] == first.key_id and third.key_id in trail[2]["detail"]
    assert all(e["atMs"] > 1_700_000_000_000 for e in trail)
    dumped = json.dumps(storage._read(lambda run: run("SELECT * FROM audit_log", {})))
    for issued in (first, second, third):
        assert issued.api_key not in dumped and issued.token not in dumped
    assert admin.audit_log("other", 100) == []


def _jsonl() -> io.BytesIO:
    return io.BytesIO(json.dumps(make_call("c1", 1710000000000)).encode() + b"\n")


def test_the_cli_rotates_and_shows_the_trail(database: str) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["tenant", "create", "acme", "--region", "us", "--json",
                                "--database", database])  # fmt: skip
    assert made.exit_code == 0, made.output
    old = json.loads(made.stdout)
    key_id = old["apiKey"].split("_")[1]
    rotated = runner.invoke(
        main, ["credentials", "rotate", "acme", key_id, "--grace", "2h", "--json",
               "--database", database],
    )  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.stdout)
    assert new["apiKey"] != old["apiKey"]
    listed = runner.invoke(main, ["credentials", "list", "acme", "--database", database])
    states = sorted(line.split()[1] for line in listed.stdout.splitlines())
    assert states == ["expiring", "live"]
    bad = runner.invoke(
        main, ["credentials", "rotate", "acme", key_id, "--grace", "soon", "--database", database]
    )
    assert bad.exit_code == 2
    trail = runner.invoke(main, ["audit", "--json", "--database", database])
    entries = json.loads(trail.stdout)
    assert [e["action"] for e in entries] == ["credential.rotate", "tenant.create"]
    assert all(e["actor"].startswith("cli:") for e in entries)
    for secret in (old["apiKey"], old["token"], new["apiKey"], new["token"]):
        assert secret not in trail.stdout


def test_the_admin_api_rotates_and_records_who_asked(make_server: ServerFactory) -> None:
    server = make_server(admin_token="admin-token-for-tests")
    old = server.tenant("acme")
    admin = {"Authorization": "Bearer admin-token-for-tests", "X-Admin-Actor": "cli:bob"}
    rotated = server.http.post(
        f"/admin/v1/tenants/acme/credentials/{old.key_id}/rotate",
        json={"graceMs": HOUR_MS},
        headers=admin,
    )
    assert rotated.status_code == 201, rotated.text
    trail = server.http.get("/admin/v1/audit", params={"tenantId": "acme"}, headers=admin).json()
    assert trail[0]["action"] == "credential.rotate"
    assert trail[0]["actor"] == "admin-api:cli:bob"
    anonymous = {"Authorization": admin["Authorization"], "X-Admin-Actor": "bad actor\\n"}
    server.http.post("/admin/v1/tenants/acme/credentials", json={}, headers=anonymous)
    latest = server.http.get("/admin/v1/audit", headers=admin).json()[0]
    assert latest["actor"] == "admin-api@127.0.0.1"
    assert server.http.get("/admin/v1/audit").status_code == 401
