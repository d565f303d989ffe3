"""The search key: one folding of text for the caller search, the same on both sides."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.query.searchkey import search_key
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.endpoints import DATA, QUERY, auth
from tests.reference import caseless
from tests.support import InProcessHTTP, add_tenant


@settings(max_examples=500)
@given(st.text() | st.text(alphabet=string.printable) | st.text(st.characters(codec="ascii")))
def test_the_key_is_the_canonical_caseless_form(text: str) -> None:
    # ASCII text takes a shorter way (lower()); it must be the same form all the same.
    assert search_key(text) == caseless(text)


def test_keys_match_canonically_equivalent_and_differently_cased_text() -> None:
    assert search_key("ÉMILE") == search_key("e\u0301mile") == "émile"
    assert search_key("STRASSE") == search_key("Straße") == "strasse"
    assert search_key("Pat O'Neil 555") == "pat o'neil 555"


def test_nfd_and_nfc_text_match_each_other_in_the_caller_search(
    http: InProcessHTTP, storage: Storage
) -> None:
    nfc, nfd = "Ren\u00e9e M\u00fcller", "Rene\u0301e Mu\u0308ller"
    calls = [make_call("c1", 1710000000000, callerName=nfc)]
    calls.append(make_call("c2", 1710000000001, callerName=nfd))
    credential = add_tenant(storage, "acme", "us", calls)
    for needle in ("ren\u00e9e", "rene\u0301e", "M\u00dcLLER", "MU\u0308LLER"):
        body = {**QUERY, "callerName": [needle]}
        answer = http.post(DATA, json=body, headers=auth(credential))
        assert answer.status_code == 200
        assert answer.json()["hits"] == 2, needle
