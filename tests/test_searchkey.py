"""The search key: one folding of text for the caller search, the same on both sides."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.query.searchkey import search_key
from tests.reference import caseless


@settings(max_examples=500)
@given(st.text() | st.text(alphabet=string.printable) | st.text(st.characters(codec="ascii")))
def test_the_key_is_the_canonical_caseless_form(text: str) -> None:
    # ASCII text takes a shorter way (lower()); it must be the same form all the same.
    assert search_key(text) == caseless(text)


def test_keys_match_canonically_equivalent_and_differently_cased_text() -> None:
    assert search_key("ÉMILE") == search_key("e\u0301mile") == "émile"
    assert search_key("STRASSE") == search_key("Straße") == "strasse"
    assert search_key("Pat O'Neil 555") == "pat o'neil 555"
