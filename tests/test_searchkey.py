"""The search key: one folding of text for the caller search, the same on both sides."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.query.searchkey import number_key, search_key
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.endpoints import QUERY, auth
from tests.reference import caseless
from tests.support import FROZEN_NOW, InProcessHTTP, LiveServer, add_tenant

NOW = int(FROZEN_NOW)
DATA = "/customerexperience/v1/recentCallData"


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
        answer = http.post(f"{DATA}/us", json=body, headers=auth(credential))
        assert answer.status_code == 200
        assert answer.json()["hits"] == 2, needle


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("555-1212", "5551212"),
        ("(212) 555-1212", "2125551212"),
        ("+1 212 555 1212", "2125551212"),  # the country code may be missing from the store
        ("1.212.555.1212", "2125551212"),
        ("020 7946 0000", "2079460000"),  # a trunk 0 is not part of the stored number
        ("+44 20 7946 0000", "2079460000"),
        ("0044 20 7946 0000", "2079460000"),
        ("5551212", "5551212"),
        ("0123", "0123"),  # a short fragment is searched as typed
        ("  555 ", "555"),
    ],
)
def test_a_number_is_searched_by_its_digits_however_it_is_typed(typed: str, digits: str) -> None:
    assert number_key(typed) == digits


@pytest.mark.parametrize("typed", ["Ann", "555 Main", "#555", "+", "() -", "", "５５５"])
def test_text_that_is_not_only_a_number_has_no_number_key(typed: str) -> None:
    assert number_key(typed) is None


STORED = [
    ("us-1", "Ann Smith", "+12125551212"),
    ("us-2", "Bob", "2125559999"),
    ("uk-1", "Carol", "+442079460000"),
    ("dash-1", "555-1212 Plumbing", "+13125550000"),
    ("spaced-1", "Dee", "+44 20 7946 0001"),  # stored with spaces, as some imports hold them
]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("555-1212", {"us-1", "dash-1"}),  # digits in the number, text in the name
        ("(212) 555-1212", {"us-1"}),
        ("+1 (212) 555-1212", {"us-1"}),
        ("212 555", {"us-1", "us-2"}),
        ("020 7946 0000", {"uk-1"}),
        ("+44 20 7946 0000", {"uk-1"}),
        ("ann", {"us-1"}),  # the vendor's substring search, unchanged for text
        ("1212 Plumbing", {"dash-1"}),
        ("555 1212 9", set()),
        ("20 7946 0001", {"spaced-1"}),  # the vendor's substring match still holds
    ],
)
def test_the_caller_search_finds_numbers_as_typed(
    api: LiveServer, typed: str, found: set[str]
) -> None:
    credential = api.tenant(
        "acme",
        calls=[
            make_call(call_id, NOW - 60_000, callerName=name, callerNumber=number)
            for call_id, name, number in STORED
        ],
    )
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    body = {
        "tenantId": "acme",
        "duration": "allhistory",
        "page": 1,
        "rows": 10,
        "callerName": [typed],
    }
    answer = api.http.post(f"{DATA}/{credential.region}", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    assert {item["callId"] for item in answer.json()["data"]} == found
