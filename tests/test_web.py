"""The web page end to end: Debian's Chromium, driven by Playwright, against the real server.

Chromium comes from the machine's package manager (scripts/test-deps); Playwright never
downloads a browser of its own here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from recent_calls.demo import generate_calls
from recent_calls.imports import import_lines
from tests.support import FROZEN_NOW, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
TENANT = "acmecorp01"
ZONE = "America/New_York"
API = "/customerexperience/v1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-deps to install Debian's chromium")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Api:
    """The same questions the page asks, straight to the API, to check the page's answers."""

    def __init__(self, server: LiveServer, credential: Any) -> None:
        self.http = server.http
        self.headers = {"8x8-apikey": credential.api_key, "token": credential.token}

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"{API}/{endpoint}/us", headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def calls(self, **fields: Any) -> Any:
        body = {"tenantId": TENANT, "timezone": ZONE, "page": 1, "rows": 25, **fields}
        return self.post("recentCallData", body)

    def every_call(self, **fields: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.calls(**{**fields, "page": page, "rows": 5000})
            found.extend(answer["data"])
            if len(found) >= answer["hits"] or not answer["data"]:
                return found
            page += 1


@pytest.fixture
def demo(server: LiveServer) -> Api:
    credential = server.tenant(TENANT)
    calls = generate_calls(TENANT, 2000, seed=7, end_ms=int(FROZEN_NOW), days=12, timezone=ZONE)
    import_lines(server.storage, TENANT, calls, workers=1)
    server.tenant("othercorp", calls=[])
    api = Api(server, credential)
    api.credential = credential  # type: ignore[attr-defined]
    return api


def sign_in(page: Page, server: LiveServer, credential: Any) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(credential.api_key)
    page.get_by_label("Token").fill(credential.token)
    page.get_by_label("Region").select_option("us")
    page.get_by_label("Tenant id").fill(TENANT)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#workspace")).to_be_visible()


def apply(page: Page) -> None:
    page.locator("#hits").evaluate("element => { element.textContent = '' }")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#hits")).not_to_have_text("")


def shown_call_ids(page: Page) -> list[str]:
    return page.locator("#calls-body tr").evaluate_all("rows => rows.map(r => r.dataset.callId)")


def test_the_page_signs_in_filters_pages_sorts_charts_and_downloads(
    server: LiveServer, demo: Api, browser: Browser, tmp_path: Path
) -> None:
    credential = demo.credential  # type: ignore[attr-defined]
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True, timezone_id=ZONE
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # A wrong token is refused, and nothing is kept.
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(credential.api_key)
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_label("Tenant id").fill(TENANT)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).not_to_be_empty()
    assert page.evaluate("sessionStorage.length") == 0
    problems.clear()  # the 401 shows in the console as a failed request

    sign_in(page, server, credential)
    assert page.evaluate("Object.keys(sessionStorage)") == ["recentCalls.session"]
    assert credential.token not in page.url and page.context.cookies() == []
    expect(page.locator("#timezone")).to_have_value(ZONE)

    # This month (the default), charted by day: March has 31 local days.
    month = demo.calls(duration="month")
    expect(page.locator("#hits")).to_have_text(f"{month['hits']:,} calls match")
    month_stats = demo.post(
        "recentCallStats", {"tenantId": TENANT, "duration": "month", "timezone": ZONE}
    )
    expect(page.locator("#chart svg rect.bar")).to_have_count(31)
    assert len(month_stats["buckets"]) == 31
    expect(page.locator("#sum-calls")).to_have_text(f"{month_stats['totals']['calls']:,}")
    assert shown_call_ids(page) == [call["callId"] for call in month["data"]]

    # The agents offered are the tenant's own.
    facets = demo.post("recentCallFacets", {"tenantId": TENANT})
    offered = page.locator("#agents option").evaluate_all("options => options.map(o => o.value)")
    assert offered == facets["agents"] and len(offered) > 1

    # A date and time range over the spring-forward day, charted by hour: 23 bars.
    page.get_by_label("Period", exact=True).select_option("range")
    page.get_by_label("From", exact=True).fill("2024-03-10T00:00:00")
    page.get_by_label("To", exact=True).fill("2024-03-10T23:59:59")
    apply(page)
    first = 1710046800000  # 2024-03-10T00:00-05:00
    last = 1710129599999  # 2024-03-10T23:59:59.999-04:00
    day = demo.calls(timeRange=f"{first}-{last}")
    expect(page.locator("#hits")).to_have_text(f"{day['hits']:,} calls match")
    expect(page.locator("#chart svg rect.bar")).to_have_count(23)
    expect(page.locator("#chart-title")).to_contain_text("Calls per hour")

    # Back to this month, with a few agents and calls handled for at least a minute.
    page.get_by_label("Period", exact=True).select_option("month")
    agents = offered[:4]
    page.get_by_label("Agents", exact=True).select_option(agents)
    page.locator("#agentCallDuration-min").fill("1")
    page.locator("#agentCallDuration-unit").select_option("min")
    apply(page)
    filters = {"duration": "month", "tenantAgents": agents, "agentCallDuration": "min:1,-1"}
    week = demo.calls(**filters)
    assert 25 < week["hits"] < month["hits"]
    expect(page.locator("#hits")).to_have_text(f"{week['hits']:,} calls match")
    assert shown_call_ids(page) == [call["callId"] for call in week["data"]]

    # Paging.
    pages = -(-week["hits"] // 25)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-info")).to_have_text(f"Page 2 of {pages}")
    assert shown_call_ids(page) == [c["callId"] for c in demo.calls(**filters, page=2)["data"]]

    # Sorting by a column heading: longest calls first, then shortest first.
    duration_heading = page.locator("th button.sort[data-sort='callDuration']")
    duration_heading.click()
    expect(page.locator("#page-info")).to_have_text(f"Page 1 of {pages}")
    expect(page.locator("th[aria-sort='descending']")).to_have_text("Duration")
    longest = demo.calls(**filters, sortColumn="callDuration", sortOrder="desc")
    assert shown_call_ids(page) == [c["callId"] for c in longest["data"]]
    duration_heading.click()
    expect(page.locator("th[aria-sort='ascending']")).to_have_text("Duration")
    shortest = demo.calls(**filters, sortColumn="callDuration", sortOrder="asc")
    assert shown_call_ids(page) == [c["callId"] for c in shortest["data"]]
    shown = page.locator("#calls-body tr").first.locator("td").nth(7).text_content() or ""
    seconds = int(shortest["data"][0]["callDuration"]) / 1000
    assert shown == f"{int(round(seconds) // 60)}:{int(round(seconds) % 60):02d}"

    # The CSV holds every call of the current query, as the API answers them.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    target = tmp_path / "calls.csv"
    download_info.value.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = demo.every_call(**filters, sortColumn="callDuration", sortOrder="asc")
    assert len(rows) == week["hits"]
    assert rows == [{key: str(value) for key, value in call.items()} for call in expected]
    expect(page.locator("#download-status")).to_have_text(f"Downloaded {week['hits']:,} calls.")

    # The month again, for the picture.
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#hits")).to_have_text(f"{month['hits']:,} calls match")
    expect(page.locator("#chart svg rect.bar")).to_have_count(31)
    page.locator(".table-wrap").evaluate("element => { element.scrollLeft = 0 }")
    page.locator("#duration").focus()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Signing out forgets the credentials.
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert problems == []
    context.close()


def test_every_control_has_a_label(server: LiveServer, demo: Api, browser: Browser) -> None:
    page = browser.new_page()
    sign_in(page, server, demo.credential)  # type: ignore[attr-defined]
    unlabeled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, button'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.textContent.trim()
                          && !el.getAttribute('aria-label'))
            .map(el => el.id || el.outerHTML)"""
    )
    assert unlabeled == []
    inline_handlers = page.evaluate(
        """() => Array.from(document.querySelectorAll('*'))
            .flatMap(el => Array.from(el.attributes).filter(a => a.name.startsWith('on')))
            .length"""
    )
    assert inline_handlers == 0
    page.close()
