"""Scoped credentials: `read` and `push`, checked on every API route after the tenant binding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.routing import APIRoute

from recent_calls.admin.credentials import issue
from recent_calls.api.app import create_app
from recent_calls.api.routes.common import FORBIDDEN
from recent_calls.cli.main import main
from recent_calls.fields import SCOPES
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from recent_calls.storage.migrations import MIGRATIONS
from tests.calls import make_call
from tests.endpoints import ADMIN, V1
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant
from tests.test_freeswitch import member_leg

START = 1710000000000
QUERY = {"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory"}
# A valid body per API route: a new route without one here fails the walk below.
BODIES: dict[str, dict[str, Any]] = {
    "recentCallData": QUERY,
    "recentCallStats": {**QUERY, "interval": "day"},
    "recentCallFacets": QUERY,
    "recentCallExport": QUERY,
    "recentCallDirectory": {"tenantId": "acme"},
    "calls": {"tenantId": "acme", "calls": [make_call("pushed", START)]},
    "freeswitch": member_leg(),  # mod_json_cdr's plain JSON encoding
}


@pytest.fixture
def app(storage: Storage, database: str) -> FastAPI:
    return create_app(Settings(database=database, now=FROZEN_NOW, admin_token="t"), storage=storage)


# Routes that take no tenant credential: the admin API (its token), probes, the page and docs.
WITHOUT_CREDENTIAL = ("/admin/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/static/")


def every_route(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, those of included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += every_route(route.original_router.routes)
    return found


def api_routes(app: FastAPI) -> list[APIRoute]:
    routes = every_route(app.routes)
    api = [r for r in routes if r.path.startswith("/customerexperience/")]
    others = [r.path for r in routes if r not in api and r.path != "/"]
    assert all(path.startswith(WITHOUT_CREDENTIAL) for path in others), others
    assert len(api) >= len(BODIES)
    return api


def headers(credential: Any) -> dict[str, str]:
    return {"8x8-apikey": credential.api_key, "token": credential.token}


def test_every_api_route_declares_its_scope_and_refuses_a_credential_without_it(
    storage: Storage, http: InProcessHTTP, app: FastAPI
) -> None:
    """Walks the app's routes: none may be forgotten. Each declares `x-scope`; a credential
    holding only the other scope gets a 403 naming the missing one; its own scope passes."""
    add_tenant(storage, "acme", "us", [make_call("a1", START)])
    only = {scope: issue(storage, "acme", "us", scopes=(scope,)) for scope in SCOPES}
    for route in api_routes(app):
        endpoint = [part for part in route.path.split("/") if not part.startswith("{")][-1]
        scope = (route.openapi_extra or {}).get("x-scope")
        assert scope in SCOPES, f"{route.path} declares no scope"
        assert endpoint in BODIES, f"{route.path}: add a valid body to BODIES"
        path = route.path.replace("{version}", "v1").replace("{region}", "us")
        (other,) = [s for s in SCOPES if s != scope]
        refused = http.post(path, json=BODIES[endpoint], headers=headers(only[other]))
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert f"lacks the {scope!r} scope" in refused.json()["detail"]
        allowed = http.post(path, json=BODIES[endpoint], headers=headers(only[scope]))
        assert allowed.status_code == 200, (path, allowed.text)


def test_the_scope_is_checked_after_the_tenant_binding(
    storage: Storage, http: InProcessHTTP
) -> None:
    """Another tenant's id with a credential of the wrong scope: the binding's answer, the same
    as for a tenant that does not exist, so the scope check reveals nothing about tenants."""
    add_tenant(storage, "acme", "us", [])
    add_tenant(storage, "other", "us", [])
    push_only = issue(storage, "acme", "us", scopes=("push",))
    for tenant in ("other", "nosuch"):
        answer = http.post(
            f"{V1}/recentCallData/us",
            json={**QUERY, "tenantId": tenant},
            headers=headers(push_only),
        )
        assert answer.status_code == 403 and answer.json()["detail"] == FORBIDDEN
    wrong_region = http.post(f"{V1}/recentCallData/uk", json=QUERY, headers=headers(push_only))
    assert wrong_region.json()["detail"] == FORBIDDEN
    # A bad body is still a 400 first (SPEC order), whatever the scope.
    bad = http.post(
        f"{V1}/recentCallData/us", json={"tenantId": "acme"}, headers=headers(push_only)
    )
    assert bad.status_code == 400


def test_credentials_from_before_the_upgrade_keep_both_scopes(
    engine: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.pg import fresh_database

    step = next(m.version for m in MIGRATIONS if m.name.startswith("credential scopes"))
    before = tuple(m for m in MIGRATIONS if m.version < step)
    with fresh_database() if engine == "postgres" else _file(tmp_path) as url:
        monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", before)
        old = open_storage(url)
        p = old.dialect.param
        # Rows written as that schema had them: today's create_tenant knows later columns.
        old._write(lambda run: run("INSERT INTO tenants VALUES ('acme', 'us', 1)", {}))
        old._write(
            lambda run: run(
                "INSERT INTO credentials (key_hash, tenant_id, key_id, token_hash, label, "
                f"created_ms) VALUES ({p('kh')}, 'acme', 'k1', 'th', '', 1)",
                {"kh": "hash-from-before"},
            )
        )
        old.close()
        monkeypatch.setattr("recent_calls.storage.base.MIGRATIONS", MIGRATIONS)
        upgraded = open_storage(url)
        try:
            found = upgraded.credential_by_key("hash-from-before")
            assert found is not None and found.scopes == ("read", "push")
            issued = issue(upgraded, "acme", "us", scopes=("read",))
            assert sorted(c.scopes for c in upgraded.list_credentials("acme")) == [
                ("read",),
                ("read", "push"),
            ]
            assert issued.scopes == ("read",)
        finally:
            upgraded.close()


class _file:
    """A DuckDB file path as a context manager, like fresh_database's URL."""

    def __init__(self, tmp_path: Any) -> None:
        self.path = str(tmp_path / "old.duckdb")

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc: object) -> None:
        return None


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"RECENT_CALLS_NOW": FROZEN_NOW})


def test_cli_creates_lists_and_rotates_scoped_credentials(database: str) -> None:
    created = cli("tenant", "create", "acme", "--region", "us", "--database", database)
    assert created.exit_code == 0, created.output
    reader = cli(
        "credentials", "create", "acme", "--scope", "read", "--json", "--database", database
    )
    assert reader.exit_code == 0, reader.output
    issued = json.loads(reader.stdout)
    assert issued["scopes"] == ["read"]
    both = cli(
        "credentials", "create", "acme", "--scope", "push,read", "--json", "--database", database
    )
    assert json.loads(both.stdout)["scopes"] == ["read", "push"]
    key_id = issued["apiKey"].split("_")[1]
    rotated = cli("credentials", "rotate", "acme", key_id, "--json", "--database", database)
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["scopes"] == ["read"]  # rotation keeps the scopes
    listed = cli("credentials", "list", "acme", "--json", "--database", database)
    assert sorted(item["scopes"] for item in json.loads(listed.stdout)) == [
        ["read"],
        ["read"],
        ["read", "push"],
        ["read", "push"],
    ]
    text = cli("credentials", "list", "acme", "--database", database).stdout
    line = next(line for line in text.splitlines() if line.startswith(key_id))
    assert line.split()[2] == "read"
    bad = cli("credentials", "create", "acme", "--scope", "write", "--database", database)
    assert bad.exit_code == 2
    assert "scopes are read, push or read,push, not 'write'" in bad.output


def test_the_admin_api_sets_scopes_and_refuses_unknown_ones(
    storage: Storage, http: InProcessHTTP
) -> None:
    add_tenant(storage, "acme", "us", [])
    path = "/admin/v1/tenants/acme/credentials"
    made = http.post(path, json={"scopes": ["push"]}, headers=ADMIN)
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["push"]
    assert http.post(path, json={}, headers=ADMIN).json()["scopes"] == ["read", "push"]
    for scopes in (["admin"], [], "read"):
        refused = http.post(path, json={"scopes": scopes}, headers=ADMIN)
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["field"].startswith("scopes")
    listed = http.get(path, headers=ADMIN).json()
    assert sorted(item["scopes"] for item in listed) == [
        ["push"],
        ["read", "push"],
        ["read", "push"],
    ]
    pushed = http.post(
        f"{V1}/calls/us",
        json=BODIES["calls"],
        headers={"8x8-apikey": made.json()["apiKey"], "token": made.json()["token"]},
    )
    assert pushed.status_code == 200, pushed.text
