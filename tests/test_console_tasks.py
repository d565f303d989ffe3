"""A supervisor's everyday tasks in the console (issue 23), each driven in the real page.

Chromium at 1440x900 (and 390x844 for the phone), on demo data, axe-core on every new state.
The page does not depend on the engine: these run on DuckDB only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support import LiveServer
from tests.webpage import DESKTOP, Api, Console, browser, load_demo

__all__ = ["browser"]


@pytest.fixture
def engine() -> str:
    return "duckdb"


@pytest.fixture
def demo(server: LiveServer) -> Api:
    return load_demo(server)


@pytest.fixture
def desk(browser: Browser, server: LiveServer) -> Iterator[Console]:
    console = Console(browser, server, DESKTOP)
    yield console
    console.close()


def test_a_number_is_found_as_the_table_shows_it_and_as_typed(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    caller = page.get_by_label("Caller name or number")
    # The table's own format of the first call's number, typed back into the search.
    first = demo.calls(duration="today")["data"][0]
    digits = re.sub(r"\D", "", first["callerNumber"])[-10:]
    assert len(digits) == 10, first["callerNumber"]
    shown = page.locator("#calls-body tr").first.locator("td").nth(2).text_content() or ""
    assert shown != first["callerNumber"]  # formatted: punctuation the store does not hold
    expected = demo.calls(duration="today", callerName=[digits[-7:]])["hits"]
    assert expected >= 1
    international = f"+1 {digits[:3]}-{digits[3:6]}-{digits[6:]}"
    for typed in (shown, international, f"{digits[3:6]}-{digits[6:]}"):
        desk.change(lambda typed=typed: caller.fill(typed))
        hits = int((page.locator("#hits").text_content() or "").split()[0].replace(",", ""))
        assert hits >= 1, typed
        ids = desk.shown_ids()
        assert first["callId"] in ids, typed
    assert hits == expected
    # A number nobody has: the empty state says what was searched and offers a wider search.
    desk.change(lambda: caller.fill("(999) 000-0000"))
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty-title")).to_have_text("No calls from “(999) 000-0000” today.")
    expect(page.locator("#empty-hint")).to_contain_text("digits")
    desk.axe("empty number search")
    desk.change(lambda: page.get_by_role("button", name="Search last 7 days").click())
    expect(page.get_by_label("Period", exact=True)).to_have_value("last7")
    expect(caller).to_have_value("(999) 000-0000")
