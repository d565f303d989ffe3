"""A supervisor's everyday tasks in the console (issue 23), each driven in the real page.

Chromium at 1440x900 (and 390x844 for the phone), on demo data, axe-core on every new state.
The page does not depend on the engine: these run on DuckDB only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from recent_calls.admin.local import LocalAdmin
from recent_calls.ingest.bulk import import_lines
from tests.calls import make_call
from tests.support import FROZEN_NOW, LiveServer
from tests.webpage import DESKTOP, PHONE, ROOT, TENANT, Api, Console, browser, load_demo

__all__ = ["browser"]

# The page does not depend on the engine (test_web.py has the PostgreSQL smoke test).
pytestmark = pytest.mark.embedded_only


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


KEY_COLUMNS = ["Time", "Caller name", "Queue", "Agent", "Wait", "Handle time", "Outcome"]


def header_lefts(desk: Console) -> dict[str, float]:
    return dict(
        desk.page.locator("#calls-head th").evaluate_all(
            "cells => cells.map(c => [c.textContent, c.getBoundingClientRect().left])"
        )
    )


def test_the_key_columns_are_in_view_and_new_marks_shift_nothing(demo: Api, desk: Console) -> None:
    page = desk.page
    page.clock.install()
    desk.sign_in(demo.credential)
    # At 1440x900, what a supervisor reads first is in view without scrolling sideways.
    for name in KEY_COLUMNS:
        box = page.locator("#calls-head th", has_text=re.compile(f"^{name}")).first.bounding_box()
        assert box is not None, name
        assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"], name
    assert page.locator("#table-wrap").evaluate("e => e.scrollLeft") == 0
    first = demo.calls(duration="today")["data"][0]
    outcome = page.locator("#calls-body tr").first.locator("td").nth(7)
    expected = "Answered" if float(first["agentCallHandlingDuration"]) > 0 else None
    if expected is None:
        expected = "Abandoned" if float(first["abandonTime"]) > 0 else "Other"
    expect(outcome).to_have_text(expected)
    before = header_lefts(desk)
    # A call arrives: marked new at the next refresh, and no column moves for the mark.
    fresh = {
        "callId": "fresh-call-1",
        "callerName": "Fresh Caller",
        "startTime": int(FROZEN_NOW) - 1000,
        "callDuration": "2000",
    }
    import_lines(demo.server.storage, TENANT, [fresh], workers=1)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(page.locator("#calls-body tr.new")).to_have_count(1)
    expect(page.locator("#calls-body tr.new .badge")).to_have_text("New")
    assert header_lefts(desk) == before
    desk.axe("a new call marked")
    # Nobody at the screen: the mark stays through the next refresh.
    desk.change(lambda: page.clock.run_for(31_000))
    expect(page.locator("#calls-body tr.new")).to_have_count(1)
    # Someone moves the mouse: seen, so the mark goes at the refresh after.
    page.mouse.move(300, 300)
    page.mouse.move(320, 310)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(page.locator("#calls-body tr.new")).to_have_count(0)
    assert header_lefts(desk) == before


def test_the_top_agent_of_the_week_and_the_service_level_are_first_read(
    demo: Api, desk: Console
) -> None:
    page = desk.sign_in(demo.credential)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("week"))
    desk.change(lambda: page.get_by_label("By", exact=True).select_option("agent"))
    stats = demo.stats(duration="week", interval="day", groupBy="agent")["breakdown"]
    assert any(row["key"] == "" for row in stats["rows"])  # calls no agent took
    top = max((row for row in stats["rows"] if row["key"]), key=lambda row: row["calls"])
    # One press from the calls to the breakdown, whose first row is the busiest agent.
    page.get_by_role("link", name="Go to the breakdown").click()
    first = page.locator("#breakdown-body tr").first
    expect(first).to_have_attribute("data-key", top["key"])
    box = first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"]
    expect(page.locator("#breakdown-body tr").last).to_have_attribute("data-key", "")
    # The overall service level among the figures, each call once, and what it means in place.
    expect(page.locator("#sum-service")).to_have_text(f"{stats['serviceLevel']:.1%}")
    expect(page.locator("#sum-service-label")).to_have_text("Service level (20 s)")
    expect(page.locator("#sl-definition")).to_have_text(
        "Service level: the share of calls answered within 20 seconds of waiting,"
        " out of all calls (abandoned ones included)."
    )
    expect(page).not_to_have_url(re.compile("#"))
    desk.axe("breakdown by agent")
    page.screenshot(path=str(ROOT / "docs" / "screenshot-breakdown.png"))


def test_the_last_hour_is_one_choice_and_an_incomplete_date_says_so(
    demo: Api, desk: Console
) -> None:
    page = desk.sign_in(demo.credential)
    period = page.get_by_label("Period", exact=True)
    now = int(FROZEN_NOW)
    for value, span in (("last15m", 15 * 60_000), ("last1h", 3_600_000), ("last4h", 4 * 3_600_000)):
        desk.change(lambda value=value: period.select_option(value))
        hits = demo.calls(timeRange=f"{now - span}-{now}")["hits"]
        expect(page.locator("#hits")).to_have_text(f"{hits:,} calls match")
        expect(page.locator("#pause")).to_be_visible()  # a rolling period is live
    assert "period=last4h" in page.url
    # Abandoned calls of the last hour: two choices in the bar.
    desk.change(lambda: period.select_option("last1h"))
    desk.change(lambda: page.locator("#outcome").select_option("abandoned"))
    window = f"{now - 3_600_000}-{now}"
    abandoned = demo.calls(timeRange=window, outcome=["abandoned"])
    every = demo.every_call(timeRange=window)
    assert abandoned["hits"] == sum(
        1
        for c in every
        if float(c["agentCallHandlingDuration"]) <= 0 and float(c["abandonTime"]) > 0
    )
    assert abandoned["hits"] >= 1
    expect(page.locator("#hits")).to_have_text(f"{abandoned['hits']:,} calls match")
    assert desk.shown_ids() == [c["callId"] for c in abandoned["data"]]
    expect(page.locator("#calls-body tr td:nth-child(8)").first).to_have_text("Abandoned")
    expect(page.get_by_role("button", name="Remove filter Outcome: Abandoned")).to_be_visible()
    assert "outcome=abandoned" in page.url
    desk.axe("abandoned in the last hour")
    # A range typed by hand: a date left without its time says so when the field is left.
    period.select_option("range")
    start = page.locator("#range-from")
    start.click()
    start.press_sequentially("03122024")
    page.get_by_label("Caller name or number").focus()
    expect(start).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#filter-error")).to_have_text(
        "Date and time range (from): the date is incomplete; enter the day, month, year and time."
    )
    expect(page.get_by_label("Caller name or number")).to_be_focused()
    desk.axe("incomplete date")
    # Completed, with the other end still empty: what is missing, and no request yet.
    start.fill("2024-03-12T09:00:00")
    start.dispatch_event("change")
    expect(page.locator("#filter-error")).to_have_text(
        "Date and time range: choose both the start and the end."
    )
    page.locator("#range-to").fill("2024-03-12T17:00:00")
    desk.change(lambda: page.locator("#range-to").dispatch_event("change"))
    expect(page.locator("#filter-error")).to_be_empty()
    expect(page.locator("#hits")).to_contain_text("calls match")


def test_the_bell_counts_new_long_waits_since_last_looked_and_shows_them(
    demo: Api, desk: Console
) -> None:
    page = desk.page
    page.clock.install()
    desk.sign_in(demo.credential)
    bell = page.locator("#bell")
    # On by default, with an inline SVG glyph (no emoji), nothing new on a first visit.
    expect(bell).to_be_visible()
    expect(page.locator("#bell-count")).to_have_text("0")
    assert bell.locator("svg").count() == 1
    assert not re.search("[\U0001f300-\U0001faff]", bell.text_content() or "")
    # Two calls arrive after the visit began: one waited 3 minutes, one 30 seconds.
    start = int(FROZEN_NOW) + 5_000
    arrived = [
        make_call("long-wait-new", start, waitTime="180000.0", callerName="Long Wait"),
        make_call("short-wait-new", start + 1000, waitTime="30000.0", callerName="Short Wait"),
    ]
    import_lines(demo.server.storage, TENANT, arrived, workers=1)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(page.locator("#bell-count")).to_have_text("1")
    expect(bell).to_have_class(re.compile("ringing"))
    desk.axe("the bell rings")
    # A click shows those calls, and the bell counts from then on.
    desk.change(lambda: bell.click())
    assert desk.shown_ids() == ["long-wait-new"]
    expect(page.locator("#bell-count")).to_have_text("0")
    assert "timeInQueue=sec%3A120%2C" in page.url and "period=range" in page.url
    # The tenant's threshold changes: 20 seconds; empty switches the bell off.
    page.get_by_role("button", name="More filters").click()
    threshold = page.get_by_label(re.compile("^Ring the bell when"))
    expect(threshold).to_have_value("120")
    desk.change(lambda: (threshold.fill(""), threshold.press("Tab")))
    expect(bell).to_be_hidden()
    page.reload()
    desk.settled()
    expect(bell).to_be_hidden()


def test_the_chart_has_a_legend_counts_every_call_and_draws_nothing_ahead(
    demo: Api, desk: Console
) -> None:
    page = desk.sign_in(demo.credential)
    today = demo.stats(duration="today", interval="hour")
    buckets = today["buckets"]
    expect(page.locator(".legend li")).to_have_text(
        ["Answered", "Abandoned", "Other", "Average wait (m:ss, right axis)"]
    )
    # One unit for time: the wait axis reads m:ss, as the figures and the table do.
    ticks = (page.locator("#chart").get_attribute("data-wait-ticks") or "").split(" | ")
    assert ticks and all(re.fullmatch(r"\d+:\d{2}", tick) for tick in ticks), ticks
    # The busiest hour's reading: every call in one of three outcomes, the range in the
    # page's date format.
    busiest = max(range(len(buckets)), key=lambda i: buckets[i]["calls"])
    bucket = buckets[busiest]
    other = bucket["calls"] - bucket["answered"] - bucket["abandoned"]
    page.locator("#chart").focus()
    page.keyboard.press("Home")
    for _ in range(busiest):
        page.keyboard.press("ArrowRight")
    tip = page.locator("#chart-tip")
    expect(tip).to_contain_text(
        f"{bucket['calls']:,} calls, {bucket['answered']:,} answered, "
        f"{bucket['abandoned']:,} abandoned, {other:,} other"
    )
    assert re.match(r"^Wed, 3/13/2024, \d{1,2}:00\s.\s\d{1,2}:00\s[AP]M:", tip.text_content() or "")
    # The last hour of today has not begun at the server's now: nothing to read there.
    assert buckets[-1]["start"] > int(FROZEN_NOW)
    page.keyboard.press("End")
    expect(tip).to_contain_text("not yet")
    desk.axe("chart with legend")


def test_the_uk_tenant_reads_london_times_in_a_los_angeles_browser(
    browser: Browser, server: LiveServer
) -> None:
    # 14:00 in London is 07:00 in Los Angeles on that day (the US changed clocks, the UK not yet).
    at = int(FROZEN_NOW) - 2 * 3_600_000
    britco = LocalAdmin(server.storage).create_tenant("britco01", "uk", timezone="Europe/London")
    calls = [
        make_call("uk1", at, callerNumber="02079460794", dialedNumber="08081570086"),
        make_call("us1", at - 60_000, callerNumber="+16465554254", callerName=""),
    ]
    import_lines(server.storage, "britco01", calls)
    console = Console(browser, server, DESKTOP, zone="America/Los_Angeles")
    try:
        page = console.sign_in(britco)
        first = page.locator("#calls-body tr").first.locator("td").first
        expect(first).to_have_text("2:00:00 PM")
        expect(page.locator("#chart-title")).to_contain_text("Europe/London")
        expect(page.get_by_label("Time zone")).to_have_value("Europe/London")
        assert "tz=" not in page.url  # the tenant's zone is the default: nothing to say
        # Numbers by their country: the tenant's own in UK form, a US caller's internationally.
        number = page.locator("#calls-body tr td[data-key='callerNumber']")
        expect(number).to_have_text(["020 7946 0794", "+1 646 555 4254"])
        console.axe("a UK tenant in a Los Angeles browser")
        page.locator("#calls-body tr").first.click()
        dialed = page.locator("#details-fields div[data-key='dialedNumber'] dd")
        expect(dialed).to_have_text("0808 157 0086")
        page.keyboard.press("Escape")
        # Changeable, and then in the URL: the browser's own zone shows 7 AM.
        zone = page.get_by_label("Time zone")
        console.change(lambda: (zone.fill("America/Los_Angeles"), zone.dispatch_event("change")))
        expect(first).to_have_text("7:00:00 AM")
        assert "tz=America%2FLos_Angeles" in page.url
        # The address alone restores it; without tz the tenant's zone is back.
        console.change(lambda: page.goto(page.url))
        expect(first).to_have_text("7:00:00 AM")
        console.change(lambda: page.goto(server.url + "/"))
        expect(first).to_have_text("2:00:00 PM")
    finally:
        console.close()


def test_us_numbers_read_in_the_us_form_in_the_table_cards_and_details(
    demo: Api, browser: Browser, server: LiveServer
) -> None:
    first = demo.calls(duration="today")["data"][0]
    digits = re.sub(r"\D", "", first["callerNumber"])[-10:]
    national = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    for viewport in (DESKTOP, PHONE):
        console = Console(browser, server, viewport)
        try:
            page = console.sign_in(demo.credential)
            row = page.locator(f"#calls-body tr[data-call-id='{first['callId']}']")
            expect(row.locator("td[data-key='callerNumber']")).to_have_text(national)
            row.click()
            dd = page.locator("#details-fields div[data-key='callerNumber'] dd")
            expect(dd).to_have_text(national)
            # The tenant's own toll-free line, stored with its country code, reads nationally.
            dialed = re.sub(r"\D", "", first["dialedNumber"])
            assert len(dialed) == 11 and dialed.startswith("1"), first["dialedNumber"]
            own = f"({dialed[1:4]}) {dialed[4:7]}-{dialed[7:]}"
            dd = page.locator("#details-fields div[data-key='dialedNumber'] dd")
            expect(dd).to_have_text(own)
        finally:
            console.close()


# Red channel of each pixel down a column of a PNG, read by the browser's own decoder.
_PIXEL_COLUMNS = """async ([data, xs]) => {
  const image = new Image();
  image.src = "data:image/png;base64," + data;
  await image.decode();
  const canvas = Object.assign(document.createElement("canvas"), {
    width: image.width, height: image.height });
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  return xs.map((x) => Array.from({ length: image.height },
    (_, y) => context.getImageData(x, y, 1, 1).data[0]));
}"""


def test_pinned_cells_keep_their_row_borders_when_scrolled_sideways(
    demo: Api, desk: Console
) -> None:
    page = desk.sign_in(demo.credential)
    page.locator("#table-wrap").evaluate("wrap => { wrap.scrollLeft = 120; }")
    rows = page.locator("#calls-body tr")
    top = rows.first.bounding_box()
    pinned = rows.first.locator("td.pin-callDate").bounding_box()
    scrolled = rows.first.locator("td[data-key='agentId']").bounding_box()
    assert top and pinned and scrolled
    # In each cell's empty padding: the pinned time's right end, the scrolled agent's left end.
    xs = [int(pinned["x"] + pinned["width"] - 4), int(scrolled["x"] + 3)]
    assert xs[1] > xs[0] + 100, xs  # the agent cell is not under the pinned ones
    shot = page.screenshot(clip={"x": 0, "y": top["y"], "width": DESKTOP["width"], "height": 290})
    blank = desk.context.new_page()
    columns = blank.evaluate(_PIXEL_COLUMNS, [base64.b64encode(shot).decode(), xs])
    blank.close()
    lines = [[y for y, red in enumerate(column) if red < 235] for column in columns]
    assert len(lines[0]) == 10, lines  # one crisp border under each of the ten rows
    assert lines[0] == lines[1]  # on the same pixel rows in pinned and scrolled cells


def test_more_filters_has_no_large_gaps_and_no_wrapped_field(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    page.get_by_role("button", name="More filters").click()
    more = page.locator("#more-filters")
    expect(more).to_be_visible()
    # Each field on one line: its label, inputs and unit share a row.
    for group in more.locator(".range").all():
        tops = group.locator("input, select").evaluate_all(
            "items => items.map(i => i.getBoundingClientRect().top)"
        )
        assert max(tops) - min(tops) < 2, group.get_attribute("data-field")
    # Each fieldset's first control sits right under its legend, not pushed down a stretched box.
    for fieldset in more.locator(".ranges-wrap fieldset").all():
        gap = fieldset.evaluate(
            """set => set.querySelector("input, select").getBoundingClientRect().top
                      - set.querySelector("legend").getBoundingClientRect().bottom"""
        )
        assert gap < 40, (fieldset.locator("legend").text_content(), gap)
    desk.axe("more filters open")


def test_every_checkbox_has_a_target_of_at_least_24_px(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    page.get_by_role("button", name="More filters").click()
    page.locator(".columns summary").click()
    # A box and its label, touching: together one target at least 24 px high and wide.
    targets = page.locator(".check").evaluate_all(
        """rows => rows.map(row => {
             const box = row.querySelector("input").getBoundingClientRect();
             const label = row.querySelector("label").getBoundingClientRect();
             return {box: [box.width, box.height], touching: label.left - box.right,
                     height: Math.min(box.bottom, label.bottom) - Math.max(box.top, label.top),
                     rowHeight: label.height, width: label.right - box.left};
           })"""
    )
    assert len(targets) > 20
    for target in targets:
        assert min(target["box"]) >= 18, target
        assert abs(target["touching"]) < 0.5 and target["rowHeight"] >= 24, target
        assert target["width"] >= 24, target
    first = page.locator("#pickers .check label").first
    box = page.locator("#pickers .check input").first
    desk.change(lambda: first.click(position={"x": 2, "y": 2}))  # the label's corner
    expect(box).to_be_checked()
    desk.axe("checkboxes")


def _dimmed(page: Any) -> list[str]:
    """The filter of the figures and the table, and the colour of the first cell's text."""
    return page.evaluate(
        """() => [getComputedStyle(document.querySelector(".overview")).filter,
                  getComputedStyle(document.querySelector("#results")).filter,
                  getComputedStyle(document.querySelector("#calls-body td")).color]"""
    )


LIVE = ["none", "none", "rgb(27, 31, 36)"]
DIMMED = ["grayscale(1)", "grayscale(1)", "rgb(101, 109, 120)"]


def test_old_data_is_dimmed_under_an_error_or_the_offline_banner(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    assert _dimmed(page) == LIVE
    # The server fails: the error is said and what is left on screen is dimmed.
    problem = {"status": 503, "title": "Service Unavailable", "detail": "The database is busy."}
    page.route(
        "**/recentCallData/**",
        lambda route: route.fulfill(
            status=503, json=problem, headers={"Content-Type": "application/problem+json"}
        ),
    )
    page.locator("#outcome").select_option("abandoned")
    expect(page.locator("#filter-error")).not_to_be_empty()
    expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
    assert _dimmed(page) == DIMMED
    desk.axe("old data under an error")
    page.unroute("**/recentCallData/**")
    desk.change(lambda: page.locator("#outcome").select_option("answered"))
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bstale\b"))
    assert _dimmed(page) == LIVE
    # Offline: the banner, and the same dimming until a load succeeds again.
    desk.context.set_offline(True)
    page.get_by_label("Period", exact=True).select_option("week")
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
    assert _dimmed(page) == DIMMED
    desk.axe("old data under the offline banner")
    desk.context.set_offline(False)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("month"))
    expect(page.locator("#offline")).to_be_hidden()
    assert _dimmed(page) == LIVE


# Counts the notes the page plays: the browser's audio output is the edge this test stops at.
_COUNT_TONES = """
window.tones = 0;
const create = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.tones += 1;
  return create.call(this);
};
"""


def test_the_bell_sounds_only_when_switched_on_and_its_count_goes_up(
    demo: Api, desk: Console
) -> None:
    page = desk.page
    page.add_init_script(_COUNT_TONES)
    page.clock.install()
    desk.sign_in(demo.credential)
    count = page.locator("#bell-count")

    def arrive(call_id: str, offset_ms: int) -> None:
        call = make_call(call_id, int(FROZEN_NOW) + offset_ms, waitTime="180000.0")
        import_lines(demo.server.storage, TENANT, [call], workers=1)

    # Off by default: a new long wait rings the bell, silently.
    arrive("long-1", 5_000)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(count).to_have_text("1")
    assert page.evaluate("window.tones") == 0
    page.get_by_role("button", name="More filters").click()
    sound = page.get_by_label("Play a short sound when the bell counts more calls")
    expect(sound).not_to_be_checked()
    desk.axe("the bell's sound toggle")
    # Switched on: a sample at once (two notes), then a chime each time the count goes up.
    sound.check()
    page.wait_for_function("window.tones === 2")
    arrive("long-2", 40_000)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(count).to_have_text("2")
    page.wait_for_function("window.tones === 4")
    desk.change(lambda: page.clock.run_for(31_000))  # nothing new: quiet
    expect(count).to_have_text("2")
    assert page.evaluate("window.tones") == 4
    assert page.evaluate("localStorage.getItem('recentCalls.bellSound')") == "on"
