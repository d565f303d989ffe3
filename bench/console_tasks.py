"""Count and time a supervisor's everyday tasks (issue 23's table) in two builds of the console.

    .venv/bin/python -m bench.console_tasks --old OTHER_CHECKOUT/.venv/bin/python [--runs 3]

Each build is the `recent_calls` package of an interpreter (`--new` defaults to this one). Each
serves a demo database of its own (`recent-calls demo`, 20,000 calls a tenant, clock frozen at
Wed 2024-03-13 12:00 in New York) and Chromium at 1440x900 in New York's zone does each task as
a new user would: the shortest path the page offers, and when its first answer is wrong or
empty, the way round a user finds. An action is a click, a choice in a list, a field typed into,
or a scroll or key press to bring something into view; the time is the wall time from the first
action to the answer on screen (no thinking time), the median of `--runs` runs after sign-in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Browser, Locator, Page, ViewportSize, sync_playwright

from bench.launch import stop, wait_healthy

NOW_MS = 1_710_345_600_000  # Wed 2024-03-13 12:00 in New York
TENANT = "acmecorp01"
ZONE = "America/New_York"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
API = "/customerexperience/v1"


@dataclass
class Outcome:
    """One run of one task: what it took and whether the page's first answer was right."""

    actions: int = 0
    ms: float = 0.0
    first_answer_right: bool = True
    notes: list[str] = field(default_factory=list)


class Supervisor:
    """One signed-in tab, counting the actions it takes."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.actions = 0
        self.started = 0.0

    def begin(self) -> None:
        self.actions = 0
        self.started = time.perf_counter()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def ready_mark(self) -> str:
        return str(self.page.evaluate("document.body.dataset.ready || ''"))

    def settle(self, before: str) -> None:
        self.page.wait_for_function(
            "b => document.body.dataset.ready && document.body.dataset.ready !== b", arg=before
        )

    def act(self, action: Callable[[], Any], *, reloads: bool = True) -> None:
        """One action; wait for the page to show its answer when it asks the server."""
        self.actions += 1
        before = self.ready_mark()
        action()
        if reloads:
            self.settle(before)

    def into_view(self, target: Locator) -> None:
        """A scroll (one action) when `target` is not within the first screen."""
        box = target.bounding_box()
        assert box is not None
        scroll = self.page.evaluate("[window.scrollX, window.scrollY]")
        inside = box["x"] + box["width"] <= VIEWPORT["width"] and (
            box["y"] + box["height"] <= VIEWPORT["height"]
        )
        if not inside or scroll != [0, 0]:
            self.actions += 1
            target.scroll_into_view_if_needed()

    def hits(self) -> int:
        text = self.page.locator("#hits").text_content() or "0"
        return int(text.split()[0].replace(",", ""))


def _api(url: str, credential: dict[str, str], endpoint: str, body: dict[str, Any]) -> Any:
    headers = {"8x8-apikey": credential["apiKey"], "token": credential["token"]}
    answer = httpx.post(f"{url}{API}/{endpoint}/us", json=body, headers=headers, timeout=60)
    answer.raise_for_status()
    return answer.json()


def _calls(url: str, credential: dict[str, str], **fields: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        body = {"tenantId": TENANT, "timezone": ZONE, "page": page, "rows": 5000, **fields}
        answer = _api(url, credential, "recentCallData", body)
        found += answer["data"]
        if len(found) >= answer["hits"] or not answer["data"]:
            return found
        page += 1


def _wall(epoch_ms: int) -> str:
    """What a datetime-local field holds for an instant in New York."""
    return datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S")


def _abandoned(call: dict[str, Any]) -> bool:
    return float(call["agentCallHandlingDuration"]) <= 0 and float(call["abandonTime"]) > 0


# -- the tasks ---------------------------------------------------------------------------------


def number_this_month(who: Supervisor, url: str, credential: dict[str, str]) -> Outcome:
    """Every call from one number this month, typed as the table shows numbers."""
    month = _calls(url, credential, duration="month")
    counts: dict[str, int] = {}
    for call in month:
        digits = re.sub(r"\D", "", call["callerNumber"])
        if len(digits) == 10:
            counts[digits] = counts.get(digits, 0) + 1
    digits = max(counts, key=lambda key: (counts[key], key))
    typed = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    page = who.page
    outcome = Outcome()
    who.begin()
    who.act(lambda: page.locator("#period").select_option("month"))
    caller = page.locator("#caller")
    who.act(lambda: caller.fill(typed))
    if who.hits() != counts[digits]:
        outcome.first_answer_right = False
        outcome.notes.append(f"{typed!r}: {who.hits()} calls; retyped as digits")
        who.act(lambda: caller.fill(digits))
    assert who.hits() == counts[digits], (who.hits(), counts[digits])
    outcome.actions, outcome.ms = who.actions, who.elapsed_ms()
    return outcome


def longest_wait_today(who: Supervisor, url: str, credential: dict[str, str]) -> Outcome:
    """Which calls waited longest today: the Wait column sorted, longest first."""
    today = _calls(url, credential, duration="today")
    longest = max(float(call["waitTime"]) for call in today)
    ids = {call["callId"] for call in today if float(call["waitTime"]) == longest}
    page = who.page
    outcome = Outcome()
    who.begin()
    heading = page.locator("#calls-head button", has_text=re.compile(r"^Wait"))
    who.into_view(heading)
    if who.actions:
        outcome.notes.append("Wait column off-screen: scrolled sideways")
    for _ in range(3):
        who.act(heading.click)
        first = page.locator("#calls-body tr").first.get_attribute("data-call-id")
        if first in ids:
            break
    else:
        raise AssertionError("the longest wait never came first")
    outcome.actions, outcome.ms = who.actions, who.elapsed_ms()
    return outcome


def _breakdown(who: Supervisor, outcome: Outcome) -> None:
    """Bring the breakdown into view: a jump link when the page has one, else a scroll."""
    page = who.page
    jump = page.locator("#to-breakdown")
    if jump.count() and jump.is_visible():
        who.act(jump.click, reloads=False)
        outcome.notes.append("breakdown: one click on its link")
    else:
        before = who.actions
        who.into_view(page.locator("#breakdown-body tr").first)
        if who.actions > before:
            outcome.notes.append("breakdown below the fold: scrolled")


def top_agent_this_week(who: Supervisor, url: str, credential: dict[str, str]) -> Outcome:
    """The agent with most calls this week, and their handle time."""
    page = who.page
    outcome = Outcome()
    who.begin()
    who.act(lambda: page.locator("#period").select_option("week"))
    who.act(lambda: page.locator("#breakdown-by").select_option("agent"))
    _breakdown(who, outcome)
    rows = page.locator("#breakdown-body tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.key, Number(r.cells[1].textContent.replace(/\\D/g, ''))])"
    )
    named = [(key, calls) for key, calls in rows if key]
    top = max(named, key=lambda row: row[1])[0]
    if rows[0][0] != top:
        outcome.first_answer_right = False
        outcome.notes.append(f"first row {rows[0][0] or '(none)'!r}, the answer is further down")
        who.actions += 1  # reading past the wrong row to the right one
    outcome.actions, outcome.ms = who.actions, who.elapsed_ms()
    return outcome


def abandoned_last_hour(who: Supervisor, url: str, credential: dict[str, str]) -> Outcome:
    """Abandoned calls in the last hour: their number, and the calls themselves if the page can."""
    window = f"{NOW_MS - 3_600_000}-{NOW_MS}"
    expected = sum(1 for call in _calls(url, credential, timeRange=window) if _abandoned(call))
    page = who.page
    outcome = Outcome()
    period = page.locator("#period")
    rolling = "last1h" in period.evaluate("s => Array.from(s.options, o => o.value)")
    who.begin()
    if rolling:
        who.act(lambda: period.select_option("last1h"))
        who.act(lambda: page.locator("#outcome").select_option("abandoned"))
        assert who.hits() == expected, (who.hits(), expected)
    else:
        outcome.notes.append("no rolling period: a range typed; no outcome filter: the figure")
        who.act(lambda: period.select_option("range"), reloads=False)
        start, end = (_wall(NOW_MS - 3_600_000), _wall(NOW_MS))
        who.act(lambda: page.locator("#range-from").fill(start), reloads=False)
        to = page.locator("#range-to")

        def type_end() -> None:
            to.fill(end)
            to.dispatch_event("change")

        who.act(type_end)
        shown = int((page.locator("#sum-abandoned").text_content() or "0").replace(",", ""))
        assert shown == expected, (shown, expected)
    outcome.actions, outcome.ms = who.actions, who.elapsed_ms()
    return outcome


def queue_service_level_today(who: Supervisor, url: str, credential: dict[str, str]) -> Outcome:
    """Service level of the busiest queue today, and overall."""
    page = who.page
    outcome = Outcome()
    who.begin()
    if page.locator("#breakdown-by").input_value() != "queue":
        who.act(lambda: page.locator("#breakdown-by").select_option("queue"))
    _breakdown(who, outcome)
    level = page.locator("#breakdown-body tr").first.locator("td").nth(7).text_content()
    assert level and level.endswith("%"), level
    overall = page.locator("#sum-service")
    if not (overall.count() and overall.is_visible()):
        outcome.notes.append("no overall service level shown")
    outcome.actions, outcome.ms = who.actions, who.elapsed_ms()
    return outcome


TASKS: dict[str, Callable[[Supervisor, str, dict[str, str]], Outcome]] = {
    "number as typed, this month": number_this_month,
    "longest waits today": longest_wait_today,
    "top agent this week": top_agent_this_week,
    "abandoned, last hour": abandoned_last_hour,
    "service level of a queue today": queue_service_level_today,
}


# -- the builds --------------------------------------------------------------------------------


@contextmanager
def served(python: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The build of `python` serving a fresh demo database; its URL and acmecorp01's key."""
    env = {**os.environ, "RECENT_CALLS_NOW": str(NOW_MS), "RECENT_CALLS_RATE_LIMIT_PER_S": "0"}
    env.pop("RECENT_CALLS_DATABASE", None)
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "demo.duckdb")
        made = subprocess.run(
            [python, "-m", "recent_calls", "demo", "--calls", "20000", "--json",
             "--database", database],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        issued = [json.loads(line) for line in made.stdout.splitlines() if line.strip()]
        credential = next(c for c in issued if c["tenantId"] == TENANT)
        process = subprocess.Popen(
            [python, "-m", "recent_calls", "serve", "--database", database, "--port", "0",
             "--log-level", "warning"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = ""
            for line in process.stdout:
                if line.startswith("Listening on "):
                    url = line.split()[-1]
                    break
            if not url:
                raise RuntimeError(f"{python}: the server did not start")
            wait_healthy(url)
            yield url, credential
        finally:
            stop(process, timeout=60)


def sign_in(browser: Browser, url: str, credential: dict[str, str]) -> Supervisor:
    context = browser.new_context(viewport=VIEWPORT, timezone_id=ZONE, locale="en-US")
    page = context.new_page()
    page.goto(url + "/")
    page.locator("#api-key").fill(credential["apiKey"])
    page.locator("#token").fill(credential["token"])
    page.locator("#tenant").fill(TENANT)
    page.locator("#sign-in-form button[type=submit]").click()
    page.wait_for_function("() => Boolean(document.body.dataset.ready)")
    return Supervisor(page)


def run_build(python: str, runs: int) -> dict[str, list[Outcome]]:
    found: dict[str, list[Outcome]] = {name: [] for name in TASKS}
    with served(python) as (url, credential), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(runs):
            for name, task in TASKS.items():
                who = sign_in(browser, url, credential)
                try:
                    found[name].append(task(who, url, credential))
                finally:
                    who.page.context.close()
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="Python of the build to compare with.")
    parser.add_argument("--new", default=sys.executable, help="Python of this build.")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {
        label: run_build(python, args.runs)
        for label, python in (("old", args.old), ("new", args.new))
    }
    print(f"{'task':<32} {'build':<5} {'actions':>7} {'ms (median)':>12}  first answer right")
    for name in TASKS:
        for label, found in results.items():
            outcomes = found[name]
            actions = statistics.median(o.actions for o in outcomes)
            ms = statistics.median(o.ms for o in outcomes)
            right = all(o.first_answer_right for o in outcomes)
            notes = "; ".join(dict.fromkeys(n for o in outcomes for n in o.notes))
            print(
                f"{name:<32} {label:<5} {actions:>7g} {ms:>12.0f}  {'yes' if right else 'no'}"
                f"{'  (' + notes + ')' if notes else ''}"
            )


if __name__ == "__main__":
    main()
