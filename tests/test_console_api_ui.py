"""The console's parts that need the directory, breakdown and export endpoints.

They run against the console API (recentCallDirectory, recentCallStats' groupBy,
recentCallExport); without those endpoints the page falls back (ids, no breakdown table, CSV
paged from recentCallData), which test_web.py covers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, expect

from tests.support import ServerFactory
from tests.webpage import DESKTOP, ROOT, TENANT, Api, Console, browser, load_demo

__all__ = ["browser"]

# The page does not depend on the engine (test_web.py has the PostgreSQL smoke test).
pytestmark = pytest.mark.embedded_only


ADMIN_TOKEN = "console-admin-token"


@pytest.fixture
def named(make_server: ServerFactory) -> Api:
    """Demo calls, and a directory naming every queue and agent they use."""
    server = make_server(admin_token=ADMIN_TOKEN)
    api = load_demo(server)
    facets = api.post("recentCallFacets", {"tenantId": TENANT})
    lines = ["kind,id,name"]
    lines += [
        f"queue,{queue},Queue {index:02d} Billing" for index, queue in enumerate(facets["queues"])
    ]
    lines += [f"agent,{agent},Agent {index:03d}" for index, agent in enumerate(facets["agents"])]
    answer = server.http.put(
        f"/admin/v1/tenants/{TENANT}/directory",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"},
        content="\n".join(lines) + "\n",
    )
    assert answer.status_code in (200, 204), answer.text
    return api


@pytest.fixture
def desk(browser: Browser, named: Api) -> Iterator[Console]:
    console = Console(browser, named.server, DESKTOP)
    yield console
    console.close()


def test_names_replace_ids_and_pickers_search_by_name(named: Api, desk: Console) -> None:
    page = desk.sign_in(named.credential)
    directory = named.post("recentCallDirectory", {"tenantId": TENANT})
    queues = {entry["id"]: entry["name"] for entry in directory["queues"]}
    today = named.calls(duration="today")
    call = next(c for c in today["data"] if c["queueId"] and "," not in c["queueId"])
    row = page.locator(f"#calls-body tr[data-call-id='{call['callId']}']")
    cell = row.locator("td[data-label='Queue']")
    expect(cell).to_have_text(queues[call["queueId"]])
    expect(cell).to_have_attribute("title", call["queueId"])
    # The README's pictures: the first screen at 1440x900, and the whole page below it.
    (ROOT / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
    page.screenshot(path=str(ROOT / "docs" / "screenshot-full.png"), full_page=True)
    # The picker finds a queue by its name, and the chip shows the name.
    queue_id, queue_name = next(iter(queues.items()))
    page.get_by_role("button", name="More filters").click()
    page.locator("#tenantQueues-search").fill(queue_name.upper())
    options = page.locator("#tenantQueues-options .check:visible")
    expect(options).to_have_count(1)
    desk.change(lambda: options.first.locator("input").check())
    expect(page.get_by_role("button", name=f"Remove filter Queue: {queue_name}")).to_be_visible()
    wanted = named.calls(duration="today", tenantQueues=[queue_id])
    expect(page.locator("#hits")).to_have_text(f"{wanted['hits']:,} calls match")
    page.locator("#tenantQueues-search").fill(queue_id)
    expect(page.locator(f"#tenantQueues-options .check[data-id='{queue_id}']")).to_be_visible()
    page.locator("#tenantQueues-search").fill("no such queue")
    expect(page.locator("#tenantQueues-options .check:visible")).to_have_count(0)
    desk.axe("names")


def test_breakdowns_sort_and_filter_by_a_row(named: Api, desk: Console) -> None:
    page = desk.sign_in(named.credential)
    expect(page.locator("#breakdowns")).to_be_visible()
    stats = named.stats(duration="today", interval="hour", groupBy="queue")
    rows = stats["breakdown"]["rows"]
    expect(page.locator("#breakdown-body tr")).to_have_count(len(rows))
    first = page.locator("#breakdown-body tr").first
    # Most calls first among the named rows; the calls without a queue come last.
    named_rows = [row for row in rows if row["key"]]
    expect(first).to_have_attribute("data-key", named_rows[0]["key"])
    expect(first.locator("td").nth(1)).to_have_text(f"{named_rows[0]['calls']:,}")
    page.locator("#breakdown-head button[data-sort='calls']").click()
    expect(page.locator("#breakdown-head th[aria-sort='ascending']")).to_have_text("Calls")
    fewest = min(named_rows, key=lambda row: (row["calls"], row["key"]))
    expect(page.locator("#breakdown-body tr").first.locator("td").nth(1)).to_have_text(
        f"{fewest['calls']:,}"
    )
    # Another service level threshold is asked of the server.
    level = page.get_by_label(re.compile("^Service level"))
    desk.change(lambda: (level.fill("60"), level.press("Enter")))
    assert parse_qs(urlparse(page.url).query)["sl"] == ["60"]
    # A row click filters by its value.
    target = next(row for row in rows if row["key"])
    desk.change(lambda: page.locator(f"#breakdown-body tr[data-key='{target['key']}']").click())
    assert parse_qs(urlparse(page.url).query)["tenantQueues"] == [target["key"]]
    expect(page.locator("#hits")).to_have_text(f"{target['calls']:,} calls match")
    desk.change(lambda: page.get_by_label("By", exact=True).select_option("agent"))
    by_agent = named.stats(
        duration="today", interval="hour", groupBy="agent", tenantQueues=[target["key"]]
    )
    expect(page.locator("#breakdown-body tr")).to_have_count(len(by_agent["breakdown"]["rows"]))
    desk.axe("breakdowns")


def test_the_csv_streams_from_the_export_endpoint(
    named: Api, desk: Console, tmp_path: Path
) -> None:
    page = desk.sign_in(named.credential)
    with page.expect_request("**/recentCallExport/**"), page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(rf"{TENANT}_\w+_\d{{4}}-\d{{2}}-\d{{2}}\.csv", download.suggested_filename)
    target = tmp_path / "calls.csv"
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = named.every_call(duration="today")
    assert sorted(row["callId"] for row in rows) == sorted(c["callId"] for c in expected)
    expect(page.locator("#download-status")).to_have_text(f"Downloaded {len(expected):,} calls.")
