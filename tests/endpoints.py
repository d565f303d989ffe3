"""What the endpoint tests share: their paths, an app with an admin token, a tenant, a 400's checks.

A pytest plugin (conftest.py loads it), so that its fixtures reach every test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.app import create_app
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.support import FROZEN_NOW, InProcessHTTP, add_tenant

ADMIN_TOKEN = "test-admin-token"


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


V1 = "/customerexperience/v1"


DATA, STATS, FACETS, PUSH = (
    f"{V1}/recentCallData/us",
    f"{V1}/recentCallStats/us",
    f"{V1}/recentCallFacets/us",
    f"{V1}/calls/us",
)


QUERY = {"tenantId": "acme", "page": 1, "rows": 5, "duration": "allhistory"}


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def http(storage: Storage, database: str) -> Iterator[InProcessHTTP]:
    settings = Settings(database=database, now=FROZEN_NOW, admin_token=ADMIN_TOKEN)
    client = InProcessHTTP(create_app(settings, storage=storage))
    yield client
    client.close()


@pytest.fixture
def acme(storage: Storage) -> IssuedCredential:
    add_tenant(storage, "other", "us", [make_call("o1", 1710000000000)])
    return add_tenant(storage, "acme", "us", [make_call("a1", 1710000000000)])


def auth(credential: IssuedCredential) -> dict[str, str]:
    return {"8x8-apikey": credential.api_key, "token": credential.token}


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


def raw(http: InProcessHTTP, path: str, content: bytes, **headers: str) -> Any:
    return http.post(path, content=content, headers={**JSON, **headers})


LONE_ESCAPE = b'"\\ud800"'  # the JSON escape of a lone high surrogate


LONE_RAW = b'"\xed\xa0\x80"'  # the same code point as (invalid) UTF-8 bytes


def body_with(base: dict[str, Any], field: str, text: bytes) -> bytes:
    marker = b'"@@"'
    encoded = orjson.dumps({**base, field: "@@"})
    return encoded.replace(marker, text)


FAR_ZONES = ["Europe/Paris", "Pacific/Kiritimati", "Etc/GMT+12", "Pacific/Chatham", "GMT"]
