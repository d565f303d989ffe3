"""The web page end to end: Debian's Chromium, driven by Playwright, against the real server.

One test per capability of the console, on demo data, with axe-core on every state. What
needs the directory, breakdown and export endpoints is in test_console_api_ui.py.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, expect
from playwright.sync_api import Error as PlaywrightError

from recent_calls import fields
from recent_calls.ingest.bulk import import_lines
from recent_calls.query import breakdowns
from recent_calls.query import buckets as stats
from tests.support import FROZEN_NOW, LiveServer, ServerFactory
from tests.webpage import DESKTOP, PHONE, ROOT, TENANT, ZONE, Api, Console, browser, load_demo

__all__ = ["browser"]

# The page does not depend on the engine: DuckDB, but for one smoke test on both.
pytestmark = pytest.mark.embedded_only

DAY_MS = 86_400_000
TRYING_AGAIN = "The server cannot be reached. Trying again…"


@pytest.fixture
def demo(server: LiveServer) -> Api:
    formula = {
        "callId": "formula-call-1",
        "callerName": "=HYPERLINK(1)",
        "callerNumber": "+15551230000",
        "startTime": int(FROZEN_NOW) - 3_600_000,
        "callDuration": "1000",
        "waitTime": "900000.0",
    }
    return load_demo(server, extra=[formula])


@pytest.fixture
def desk(browser: Browser, server: LiveServer) -> Iterator[Console]:
    console = Console(browser, server, DESKTOP)
    yield console
    console.close()


def test_the_schema_is_the_servers_own_definitions(server: LiveServer) -> None:
    answer = server.http.get("/static/schema.json")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    schema = answer.json()
    assert schema["dataKeys"] == list(fields.DATA_KEYS)
    assert schema["sortColumns"] == list(fields.SORT_COLUMNS)
    assert schema["durations"] == list(fields.DURATIONS)
    assert schema["listFilters"] == list(fields.LIST_FILTERS)
    assert schema["countFilters"] == list(fields.COUNT_FILTERS)
    assert schema["durationFilters"] == list(fields.DURATION_FILTERS)
    assert schema["intervals"] == list(stats.INTERVALS)
    assert schema["breakdownFilters"] == breakdowns.ROW_FILTER
    assert schema["outcomes"] == list(fields.OUTCOMES)
    assert schema["now"] == int(FROZEN_NOW)
    page_js = "".join(p.read_text() for p in (ROOT / "src/recent_calls/static").glob("*.js"))
    # The page holds no copy of the key list (its 31 keys in a row would betray one).
    assert '"callDuration", "queueId", "agentCallHandlingDuration"' not in page_js
    assert 'queue: "tenantQueues"' not in page_js  # nor of the breakdown-to-filter mapping
    assert server.http.get("/static/../web.py").status_code == 404
    assert server.http.get("/static/vendor/nothing.js").status_code == 404


def test_signed_out_page_refuses_a_wrong_token_and_keeps_nothing(demo: Api, desk: Console) -> None:
    page = desk.page
    page.goto(desk.server.url + "/")
    desk.axe("signed out")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_have_text(
        "API key, token and tenant id are all needed."
    )
    expect(page.locator("#api-key")).to_be_focused()
    page.get_by_label("API key").fill(demo.credential.api_key)
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_label("Tenant id").fill(TENANT)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("not accepted")
    assert page.evaluate("sessionStorage.length") == 0
    desk.axe("sign-in error")


def test_a_sign_in_before_the_page_is_set_up_sends_no_secret(demo: Api, desk: Console) -> None:
    page = desk.page
    # The schema is held: the page cannot wire its form until it answers.
    held: list[Any] = []
    page.route("**/static/schema.json", lambda route: held.append(route))
    page.goto(desk.server.url + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
    page.get_by_label("API key").fill(demo.credential.api_key)
    page.get_by_label("Token").fill(demo.credential.token)
    page.get_by_label("Tenant id").fill(TENANT)
    page.get_by_label("Token").press("Enter")  # the browser's own submit, with no script yet
    page.wait_for_timeout(300)
    assert urlparse(page.url).query == ""
    assert demo.credential.token not in page.url
    # The schema cannot be had: the page says so and sets itself up once back online.
    assert len(held) == 1
    held[0].abort()
    page.unroute("**/static/schema.json")
    expect(page.locator("#offline")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
    expect(page.locator("#sign-in-wait")).to_have_text(TRYING_AGAIN)
    desk.context.set_offline(True)
    desk.context.set_offline(False)
    set_up_and_signed_in(demo, desk)


def set_up_and_signed_in(demo: Api, desk: Console, timeout_ms: int = 5_000) -> None:
    """The page set itself up (the button on, no banner, no wait line), and signs in."""
    page = desk.page
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled(timeout=timeout_ms)
    expect(page.locator("#offline")).to_be_hidden()
    expect(page.locator("#sign-in-wait")).to_be_hidden()
    desk.submit_sign_in(demo.credential)
    expect(page.locator("#who")).to_have_text(f"{TENANT} ({demo.credential.region})")
    assert desk.errors == []


def test_a_schema_the_server_failed_to_send_is_fetched_again_while_online(
    demo: Api, desk: Console
) -> None:
    page = desk.page
    answered: list[int] = []

    def fail_twice(route: Any) -> None:
        answered.append(1)
        if len(answered) <= 2:
            route.fulfill(status=503, body="restarting")
        else:
            route.continue_()

    page.route("**/static/schema.json", fail_twice)
    page.goto(desk.server.url + "/")
    expect(page.locator("#sign-in-wait")).to_have_text(TRYING_AGAIN)
    expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
    # No `online` event comes (the browser never went offline): the page tries again by itself,
    # after 2 s and then 4 s.
    set_up_and_signed_in(demo, desk, timeout_ms=15_000)
    assert len(answered) == 3


def test_without_javascript_the_page_says_so_and_cannot_send_the_form(
    browser: Browser, server: LiveServer
) -> None:
    # Chromium under Playwright parses <noscript> as if scripts ran, so its words are read here.
    served = server.http.get("/").text
    assert re.search(r"<noscript>.*This console needs JavaScript.*</noscript>", served)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        expect(page.get_by_role("button", name="Sign in")).to_be_disabled()
        page.get_by_label("Token").fill("a-secret-token")
        page.get_by_label("Token").press("Enter")
        page.wait_for_timeout(300)
        assert "a-secret-token" not in page.url
    finally:
        context.close()


# The one smoke test on both engines: sign-in to a complete page.
@pytest.mark.parametrize("engine", ["duckdb", "postgres"], indirect=True)
def test_results_come_first_today_with_chart_and_figures(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    assert page.evaluate("Object.keys(sessionStorage)") == ["recentCalls.session"]
    assert demo.credential.token not in page.url and page.context.cookies() == []
    today = demo.calls(duration="today")
    assert today["hits"] > 25
    expect(page.locator("#hits")).to_have_text(f"{today['hits']:,} calls match")
    assert desk.shown_ids() == [call["callId"] for call in today["data"]]
    figures = demo.stats(duration="today", interval="hour")["totals"]
    expect(page.locator("#sum-calls")).to_have_text(f"{figures['calls']:,}")
    expect(page.locator("#chart canvas")).to_have_count(1)
    expect(page.locator("#chart-title")).to_have_text(f"Calls per hour ({ZONE})")
    # Without scrolling: the bar, the figures, the chart and the first rows are on screen.
    for selector in ("#period", "#caller", "#sum-calls", "#chart canvas", "#calls-body tr"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESKTOP["height"], selector
    first_row = page.locator("#calls-body tr").nth(4).bounding_box()
    assert first_row is not None and first_row["y"] < DESKTOP["height"]
    expect(page.locator("#more-filters")).to_be_hidden()
    expect(page.get_by_role("button", name="Apply filters")).to_have_count(0)
    # Durations as m:ss, dates in the locale with the weekday, phone numbers grouped.
    first = today["data"][0]
    cells = page.locator("#calls-body tr").first.locator("td")
    # Today: the time only, in the locale (the date would repeat on every row).
    expect(cells.nth(0)).to_have_text(re.compile(r"^\d{1,2}:\d{2}:\d{2} [AP]M$"))
    number = re.sub(r"\D", "", first["callerNumber"])
    if len(number) == 11 and number.startswith("1"):
        expect(cells.nth(2)).to_have_text(f"+1 ({number[1:4]}) {number[4:7]}-{number[7:]}")
    page.locator("#results").focus()
    desk.axe("results")
    marks = page.evaluate("performance.getEntriesByName('first-render').length")
    assert marks == 1


def test_a_day_without_calls_yet_opens_on_the_last_7_days(
    make_server: ServerFactory, browser: Browser
) -> None:
    # Two days after the demo's last call: today is empty, the last 7 days are not.
    now = int(FROZEN_NOW) + 2 * DAY_MS
    server = make_server(now=str(now))
    api = load_demo(server)
    assert api.calls(duration="today")["hits"] == 0
    console = Console(browser, server, DESKTOP)
    page = console.sign_in(api.credential)
    expect(page.locator("#note")).to_have_text("No calls yet today: showing the last 7 days.")
    expect(page.locator("#period")).to_have_value("last7")
    week = api.calls(timeRange=f"{now - 7 * DAY_MS}-{now}")
    assert week["hits"] > 0
    expect(page.locator("#hits")).to_have_text(f"{week['hits']:,} calls match")
    assert parse_qs(urlparse(page.url).query) == {"period": ["last7"]}
    console.close()


def test_filters_apply_on_change_as_removable_chips(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    facets = demo.post("recentCallFacets", {"tenantId": TENANT})
    queue = facets["queues"][0]
    page.get_by_role("button", name="More filters").click()
    expect(page.get_by_role("button", name="More filters")).to_have_attribute(
        "aria-expanded", "true"
    )
    desk.change(lambda: page.locator(f"#tenantQueues-options input[value='{queue}']").check())
    wanted = demo.calls(duration="today", tenantQueues=[queue])
    expect(page.locator("#hits")).to_have_text(f"{wanted['hits']:,} calls match")
    chip = page.get_by_role("button", name=f"Remove filter Queue: {queue}")
    expect(chip).to_be_visible()
    assert parse_qs(urlparse(page.url).query)["tenantQueues"] == [queue]
    # A count range typed in applies by itself too, and shows as its own chip.
    desk.change(lambda: page.locator("#transferCount-min").fill("1"))
    both = demo.calls(duration="today", tenantQueues=[queue], transferCount="range:1,-1")
    expect(page.locator("#hits")).to_have_text(f"{both['hits']:,} calls match")
    expect(page.get_by_role("button", name="Remove filter Transfers: at least 1")).to_be_visible()
    desk.change(lambda: chip.click())
    alone = demo.calls(duration="today", transferCount="range:1,-1")
    expect(page.locator("#hits")).to_have_text(f"{alone['hits']:,} calls match")
    assert desk.shown_ids() == [call["callId"] for call in alone["data"]]
    # The caller search in the bar, stale answers aborted: only the last text counts.
    page.locator("#caller").press_sequentially("zzz", delay=20)
    desk.change(lambda: page.locator("#caller").fill("Smith"))
    smith = demo.calls(duration="today", transferCount="range:1,-1", callerName=["Smith"])
    expect(page.locator("#hits")).to_have_text(f"{smith['hits']:,} calls match")
    assert page.evaluate("performance.getEntriesByName('filter-change').length") >= 1


def test_a_call_opens_in_a_details_panel_with_every_field(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    today = demo.calls(duration="today")
    call = today["data"][1]
    row = page.locator(f"#calls-body tr[data-call-id='{call['callId']}']")
    row.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name(re.compile("^Call from "))
    expect(page.locator("#details-title")).to_be_focused()
    # Grouped by meaning, each field once: the date and time once, the call id in the head.
    expect(page.locator("#details-fields h3")).to_have_text(
        ["When", "Who called", "Where it went", "Outcome", "Timings", "More"]
    )
    repeats = {"callDateOnly", "callTime", "callId"}
    shown = page.locator("#details-fields div[data-key]").evaluate_all(
        "rows => rows.map(r => r.dataset.key)"
    )
    assert sorted(shown) == sorted([*(set(fields.DATA_KEYS) - repeats), "outcome"])
    expect(page.locator("#details-id")).to_have_text(call["callId"])
    wait = page.locator("#details-fields div[data-key='waitTime'] dd")
    expect(wait).to_contain_text(" s (")
    survey = page.locator("#details-fields div[data-key='postCallSurvey'] dd")
    expect(survey).not_to_contain_text("[")
    assert parse_qs(urlparse(page.url).query)["call"] == [call["callId"]]
    desk.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy call id").click()
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == call["callId"]
    desk.axe("details open")
    page.screenshot(path=str(ROOT / "docs" / "screenshot-details.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(row).to_be_focused()
    assert "call" not in parse_qs(urlparse(page.url).query)
    # Enter on a focused row opens it too.
    other = page.locator("#calls-body tr").nth(3)
    other.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(page.locator("#details-id")).to_have_text(today["data"][3]["callId"])


def test_a_shared_url_restores_the_view_and_back_forward_work(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("month"))
    desk.change(lambda: page.locator("th button.sort[data-sort='waitTime']").click())
    desk.change(lambda: page.get_by_role("button", name="Next").click())
    filters = {"duration": "month", "sortColumn": "waitTime", "sortOrder": "desc", "page": 2}
    second = demo.calls(**filters)
    assert desk.shown_ids() == [call["callId"] for call in second["data"]]
    call_id = second["data"][0]["callId"]
    page.locator("#calls-body tr").first.click()
    shared = page.url
    assert demo.credential.api_key not in shared and demo.credential.token not in shared
    assert parse_qs(urlparse(shared).query) == {
        "period": ["month"],
        "sort": ["waitTime"],
        "order": ["desc"],
        "page": ["2"],
        "call": [call_id],
    }
    # A reload (same tab, so the session is still there) opens the same view and call.
    page.reload()
    desk.settled()
    expect(page.locator("#details-id")).to_have_text(call_id)
    assert desk.shown_ids() == [call["callId"] for call in second["data"]]
    expect(page.locator("#period")).to_have_value("month")
    expect(page.locator("#calls th[aria-sort='descending']")).to_have_text("Wait")
    # Back closes the call, then goes to page 1; forward returns to page 2.
    page.keyboard.press("Escape")
    page.go_back()
    expect(page.locator("#details")).to_be_visible()
    page.go_back()
    expect(page.locator("#details")).to_be_hidden()
    desk.change(lambda: page.go_back())
    first = demo.calls(**{**filters, "page": 1})
    assert desk.shown_ids() == [call["callId"] for call in first["data"]]
    expect(page.locator("#page-number")).to_have_value("1")
    desk.change(lambda: page.go_forward())
    expect(page.locator("#page-number")).to_have_value("2")


def test_pages_move_first_last_and_by_number_and_columns_are_remembered(
    demo: Api, desk: Console
) -> None:
    page = desk.sign_in(demo.credential)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("month"))
    month = demo.calls(duration="month")
    pages = -(-month["hits"] // 25)
    desk.change(lambda: page.get_by_role("button", name="Last").click())
    expect(page.locator("#page-number")).to_have_value(str(pages))
    assert desk.shown_ids() == [
        c["callId"] for c in demo.calls(duration="month", page=pages)["data"]
    ]
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    jump = page.get_by_label("Page", exact=True)
    desk.change(lambda: (jump.fill("3"), jump.press("Enter")))
    expect(page.locator("#page-number")).to_have_value("3")
    desk.change(lambda: page.get_by_label("Rows per page").select_option("100"))
    expect(page.locator("#calls-body tr")).to_have_count(100)
    expect(page.locator("#page-count")).to_have_text(f"of {-(-month['hits'] // 100)}")
    expect(page.locator("#page-number")).to_have_value("1")
    desk.change(lambda: page.get_by_role("button", name="Next").click())
    desk.change(lambda: page.get_by_role("button", name="First").click())
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    # Sticky header and pinned date and caller columns.
    assert (
        page.locator("#calls-head th").first.evaluate("e => getComputedStyle(e).position")
        == "sticky"
    )
    assert (
        page.locator("#calls-body td.pin-callerName").first.evaluate(
            "e => getComputedStyle(e).position"
        )
        == "sticky"
    )
    # The column picker: hide the agent group, show the transaction ids; a reload keeps them.
    page.get_by_text("Columns", exact=True).click()
    page.get_by_label("Agent group", exact=True).uncheck()
    page.get_by_label("Transaction ids", exact=True).check()
    headings = page.locator("#calls-head th").all_text_contents()
    assert "Agent group" not in headings and "Transaction ids" in headings
    page.reload()
    desk.settled()
    headings = page.locator("#calls-head th").all_text_contents()
    assert "Agent group" not in headings and "Transaction ids" in headings
    assert headings[:2] == ["Date and time", "Caller name"]


def test_the_chart_reads_by_keyboard_and_zooms_by_dragging(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("last7"))
    now = int(FROZEN_NOW)
    week = demo.stats(timeRange=f"{now - 7 * DAY_MS}-{now}", interval="day")
    expect(page.locator("#chart-title")).to_have_text(f"Calls per day ({ZONE})")
    page.locator("#chart").focus()
    page.keyboard.press("Home")
    first = week["buckets"][0]
    expect(page.locator("#chart-tip")).to_contain_text(f"{first['calls']:,} calls")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#chart-tip")).to_contain_text(f"{week['buckets'][1]['calls']:,} calls")
    axis = page.locator("#chart").get_attribute("data-ticks") or ""
    assert any(day in axis for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")), axis
    # Drag across the middle of the plot: the window becomes the buckets covered.
    over = page.locator("#chart .u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.55, y, steps=5)
    desk.change(lambda: page.mouse.up())
    params = parse_qs(urlparse(page.url).query)
    assert params["period"] == ["range"]
    start, end = int(params["from"][0]), int(params["to"][0])
    starts = [bucket["start"] for bucket in week["buckets"]]
    assert start in starts and end + 1 in [bucket["end"] for bucket in week["buckets"]]
    assert DAY_MS <= end + 1 - start <= 4 * DAY_MS
    zoomed = demo.calls(timeRange=f"{start}-{end}")
    expect(page.locator("#hits")).to_have_text(f"{zoomed['hits']:,} calls match")
    expect(page.locator("#chart-title")).to_contain_text("Calls per hour")
    # A long window asked by the hour falls back to days, with no error.
    page.get_by_role("button", name="More filters").click()
    desk.change(lambda: page.get_by_label("Chart by").select_option("hour"))
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("allhistory"))
    expect(page.locator("#filter-error")).to_be_empty()
    expect(page.locator("#chart canvas")).to_have_count(1)


def test_a_live_window_refreshes_marks_new_calls_pauses_and_rings(demo: Api, desk: Console) -> None:
    page = desk.page
    page.clock.install()
    desk.sign_in(demo.credential)
    expect(page.locator("#updated")).to_contain_text("Updated at")
    expect(page.locator("#calls-body tr.new")).to_have_count(0)
    # The bell is on from the start, and counts from the first visit: nothing new yet.
    expect(page.locator("#bell")).to_be_visible()
    expect(page.locator("#bell-count")).to_have_text("0")
    # A threshold of 10 minutes: today's calls over it are marked in the Wait column.
    page.get_by_role("button", name="More filters").click()
    desk.change(
        lambda: (
            page.get_by_label(re.compile("^Ring the bell when")).fill("600"),
            page.get_by_label(re.compile("^Ring the bell when")).press("Tab"),
        )
    )
    over = demo.calls(duration="today", timeInQueue="sec:600,-1", rows=1)["hits"]
    assert over >= 1
    expect(page.locator("#bell-count")).to_have_text("0")
    shown = demo.calls(duration="today")["data"]
    long_waits = [c["callId"] for c in shown if float(c["waitTime"]) >= 600_000]
    expect(page.locator("#calls-body tr.long-wait")).to_have_count(len(long_waits))
    # A call arrives; the next refresh shows it, marked new.
    fresh = {
        "callId": "fresh-call-1",
        "callerName": "Fresh Caller",
        "startTime": int(FROZEN_NOW) - 1000,
        "callDuration": "2000",
    }
    import_lines(demo.server.storage, TENANT, [fresh], workers=1)
    desk.change(lambda: page.clock.run_for(31_000))
    expect(page.locator("#calls-body tr.new")).to_have_count(1)
    expect(page.locator("#calls-body tr.new")).to_have_attribute("data-call-id", "fresh-call-1")
    # Paused: time passes, nothing is asked.
    page.get_by_role("button", name="Pause live updates").click()
    expect(page.get_by_role("button", name="Resume live updates")).to_have_attribute(
        "aria-pressed", "true"
    )
    mark = desk.ready_mark()
    page.clock.run_for(120_000)
    assert desk.ready_mark() == mark
    desk.change(lambda: page.get_by_role("button", name="Resume live updates").click())
    # Yesterday is over: no timer, no pause button.
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("yesterday"))
    expect(page.locator("#pause")).to_be_hidden()


def test_errors_empty_results_and_offline_speak_human_words(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    page.get_by_role("button", name="More filters").click()
    page.locator("#transferCount-max").fill("1")
    page.locator("#transferCount-min").fill("5")
    minimum = page.locator("#transferCount-min")
    expect(minimum).to_have_attribute("aria-invalid", "true")
    expect(minimum).to_be_focused()
    expect(page.locator("#transferCount-error")).to_have_text(
        'Transfers (at least): "at least" must not be more than "at most".'
    )
    text = page.locator("#filter-error").text_content() or ""
    assert "range:" not in text and "-1" not in text
    desk.axe("errors")
    desk.change(lambda: minimum.fill(""))
    expect(minimum).not_to_have_attribute("aria-invalid", "true")
    # A time zone nobody knows is an error on the time zone field.
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_label("Time zone").press("Enter")
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#timezone-error, #filter-error").first).to_contain_text("Time zone:")
    desk.change(
        lambda: (
            page.get_by_label("Time zone").fill(ZONE),
            page.get_by_label("Time zone").press("Enter"),
        )
    )
    # Nothing matches: an empty state with ways out.
    desk.change(lambda: page.get_by_label("Caller name or number").fill("nobody-calls-like-this"))
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#hits")).to_have_text("0 calls match")
    desk.axe("empty")
    desk.change(lambda: page.get_by_role("button", name="Clear filters").click())
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.get_by_label("Caller name or number")).to_have_value("")
    # Offline: its own message, and the page recovers when the network is back.
    desk.context.set_offline(True)
    page.get_by_label("Period", exact=True).select_option("month")
    expect(page.locator("#offline")).to_be_visible()
    desk.context.set_offline(False)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("week"))
    expect(page.locator("#offline")).to_be_hidden()


def test_a_slow_answer_shows_loading_and_a_newer_change_wins(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    held: list[Any] = []
    page.route("**/recentCallData/**", lambda route: held.append(route))
    page.get_by_label("Period", exact=True).select_option("month")
    expect(page.locator("#loading")).to_be_visible()
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    desk.axe("loading")
    page.unroute("**/recentCallData/**")
    # The user moves on before the month answers: the month's request is aborted.
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("yesterday"))
    for route in held:
        with contextlib.suppress(PlaywrightError):
            route.continue_()
    yesterday = demo.calls(duration="yesterday")
    expect(page.locator("#hits")).to_have_text(f"{yesterday['hits']:,} calls match")
    assert desk.shown_ids() == [call["callId"] for call in yesterday["data"]]
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("#filter-error")).to_be_empty()


def test_on_a_phone_the_calls_become_cards(demo: Api, browser: Browser, server: LiveServer) -> None:
    phone = Console(browser, server, PHONE, touch=True)
    page = phone.sign_in(demo.credential)
    row = page.locator("#calls-body tr").first
    assert row.evaluate("e => getComputedStyle(e).display") == "grid"
    # A compact card: three lines (who and when, queue and outcome, number and wait).
    shown = row.locator("td:visible").evaluate_all("cells => cells.map(c => c.dataset.key)")
    assert shown == ["callDate", "callerName", "callerNumber", "queueId", "waitTime", "outcome"]
    line = float(
        row.locator("td").first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    )
    box = row.bounding_box()
    assert box is not None and box["height"] <= 3 * line + 16, (box, line)
    label = row.locator("td[data-key='waitTime']").evaluate(
        "e => getComputedStyle(e, '::before').content"
    )
    assert label == '"Wait "'
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    # The results within the first screen, before the figures and chart.
    assert box["y"] + box["height"] <= PHONE["height"], box
    phone.axe("phone")
    page.screenshot(path=str(ROOT / "docs" / "screenshot-phone.png"))
    # A tap on the chart (below the calls on a phone) reads out the bucket under the finger.
    page.locator("#chart").scroll_into_view_if_needed()
    over = page.locator("#chart .u-over").bounding_box()
    assert over is not None
    page.touchscreen.tap(over["x"] + over["width"] * 0.5, over["y"] + over["height"] / 2)
    expect(page.locator("#chart-tip")).to_contain_text(" calls, ")
    phone.close()


def test_the_csv_has_every_call_with_formula_safe_cells(
    demo: Api, desk: Console, tmp_path: Path
) -> None:
    page = desk.sign_in(demo.credential)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(
        rf"{TENANT}_today_\d{{4}}-\d{{2}}-\d{{2}}\.csv", download.suggested_filename
    )
    target = tmp_path / "calls.csv"
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    expected = demo.every_call(duration="today")
    assert len(rows) == len(expected) + 1 and len(expected) > 25
    keys = rows[0]
    as_dicts = [dict(zip(keys, row, strict=True)) for row in rows[1:]]
    formula = next(row for row in as_dicts if row["callId"] == "formula-call-1")
    assert formula["callerName"] == "'=HYPERLINK(1)"
    assert formula["callerNumber"] == "'+15551230000"
    # The API's keys, in its order, then the call's start (the columns of recent-calls export).
    assert keys[:-1] == list(expected[0]) and keys[-1] == "startTime"
    plain = [row for row in as_dicts if row["callId"] != "formula-call-1"]
    wanted = [
        {key: str(call[key]) for key in keys[:-1]}
        for call in expected
        if call["callId"] != "formula-call-1"
    ]
    safe = [
        {k: v[1:] if v.startswith("'") else v for k, v in row.items() if k != "startTime"}
        for row in plain
    ]
    assert safe == wanted
    expect(page.locator("#download-status")).to_have_text(f"Downloaded {len(expected):,} calls.")


def test_a_csv_download_shows_progress_and_can_be_cancelled(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    desk.change(lambda: page.get_by_label("Period", exact=True).select_option("allhistory"))
    held: list[Any] = []
    # Hold the download's requests, streamed (recentCallExport) or paged (recentCallData), so
    # that it is still under way when it is cancelled.
    for answers in ("**/recentCallExport/**", "**/recentCallData/**"):
        page.route(answers, lambda route: held.append(route))
    page.get_by_role("button", name="Download CSV").click()
    cancel = page.get_by_role("button", name="Cancel download")
    expect(cancel).to_be_visible()
    expect(page.locator("#download-status")).to_contain_text("Preparing")
    cancel.click()
    expect(page.locator("#download-status")).to_have_text("Download cancelled.")
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    page.unroute("**/recentCallExport/**")
    page.unroute("**/recentCallData/**")
    for route in held:
        # A cancelled request can no longer be continued.
        with contextlib.suppress(PlaywrightError):
            route.continue_()
    expect(page.locator("#filter-error")).to_be_empty()


def test_every_control_has_a_label_and_no_inline_handler(demo: Api, desk: Console) -> None:
    page = desk.sign_in(demo.credential)
    unlabeled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, button'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.textContent.trim()
                          && !el.getAttribute('aria-label'))
            .map(el => el.id || el.outerHTML)"""
    )
    assert unlabeled == []
    inline = page.evaluate(
        """() => Array.from(document.querySelectorAll('*'))
            .flatMap(el => Array.from(el.attributes).filter(a => a.name.startsWith('on')))
            .length"""
    )
    assert inline == 0


def test_the_api_docs_load_nothing_from_another_origin_under_a_strict_policy(
    browser: Browser, server: LiveServer
) -> None:
    """/docs is served whole by the server (swagger-ui from a pinned package), with a policy
    that lets nothing else in; a real browser renders it with no request elsewhere and no
    policy violation."""
    answer = server.http.get("/docs")
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "http" not in answer.text.replace(server.url, "")  # no absolute URL elsewhere
    page = browser.new_page()
    elsewhere: list[str] = []
    problems: list[str] = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url) if not request.url.startswith(server.url) else None
        ),
    )
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    try:
        page.goto(f"{server.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Recent Calls API")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
    finally:
        page.close()
    assert elsewhere == []
    assert problems == []
