"""query/request.py: the recentCallData body, validated into a CallQuery."""

from __future__ import annotations

import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential
from tests.endpoints import DATA, PUSH, QUERY, auth, fields_of, raw
from tests.support import InProcessHTTP


@pytest.mark.parametrize("name", ["page", "rows"])
def test_a_null_page_or_rows_is_a_400_saying_it_is_required(
    http: InProcessHTTP, acme: IssuedCredential, name: str
) -> None:
    answer = http.post(DATA, json={**QUERY, name: None}, headers=auth(acme))
    assert fields_of(answer) == [name]
    assert "is required" in answer.json()["errors"][0]["message"]


def test_a_5000_digit_integer_is_a_field_error_not_broken_json(
    http: InProcessHTTP, acme: IssuedCredential
) -> None:
    body = orjson.dumps({**QUERY, "rows": 0}).replace(b'"rows":0', b'"rows":' + b"9" * 5000)
    assert fields_of(raw(http, DATA, body, **auth(acme))) == ["rows"]
    push = b'{"tenantId":"acme","calls":' + b"1" * 5000 + b"}"
    assert fields_of(raw(http, PUSH, push, **auth(acme))) == ["calls"]
