"""api/routes/push.py: calls pushed as they end."""

from __future__ import annotations

import orjson
import pytest

from recent_calls.admin.credentials import IssuedCredential
from tests.calls import make_call
from tests.endpoints import LONE_ESCAPE, LONE_RAW, PUSH, auth, fields_of, raw
from tests.support import InProcessHTTP


@pytest.mark.parametrize("text", [LONE_ESCAPE, LONE_RAW], ids=["escape", "raw"])
def test_a_lone_surrogate_in_a_pushed_call_is_a_400_naming_the_call(
    http: InProcessHTTP, acme: IssuedCredential, text: bytes
) -> None:
    call = orjson.dumps(make_call("s1", 1710000000000, postCallSurvey="@@"))
    body = b'{"tenantId":"acme","calls":[' + call.replace(b'"@@"', text) + b"]}"
    found = fields_of(raw(http, PUSH, body, **auth(acme)))
    assert found == (["calls[0].postCallSurvey"] if text == LONE_ESCAPE else ["body"])
