"""What the web page tests share: Debian's Chromium, demo data, signing in, axe-core.

Chromium comes from the machine's package manager (scripts/test-deps); Playwright never
downloads a browser of its own here. axe-core is vendored under tests/js/vendor (its version
is in package.json) and evaluated in the page through the DevTools protocol, which the page's
CSP does not govern, so the page keeps its real policy during the checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from recent_calls.demo import generate_calls
from recent_calls.ingest.bulk import import_lines
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
ROOT = Path(__file__).resolve().parent.parent
AXE = (ROOT / "tests" / "js" / "vendor" / "axe.min.js").read_text(encoding="utf-8")
TENANT = "acmecorp01"
ZONE = "America/New_York"
API = "/customerexperience/v1"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


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
        self.server = server
        self.http = server.http
        self.credential = credential
        self.headers = {"8x8-apikey": credential.api_key, "token": credential.token}

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"{API}/{endpoint}/us", headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def calls(self, **fields: Any) -> Any:
        body = {"tenantId": TENANT, "timezone": ZONE, "page": 1, "rows": 25, **fields}
        return self.post("recentCallData", body)

    def stats(self, **fields: Any) -> Any:
        return self.post("recentCallStats", {"tenantId": TENANT, "timezone": ZONE, **fields})

    def every_call(self, **fields: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.calls(**{**fields, "page": page, "rows": 5000})
            found.extend(answer["data"])
            if len(found) >= answer["hits"] or not answer["data"]:
                return found
            page += 1


def load_demo(server: LiveServer, extra: list[dict[str, Any]] | None = None) -> Api:
    credential = server.tenant(TENANT)
    calls = list(
        generate_calls(TENANT, 2000, seed=7, end_ms=int(FROZEN_NOW), days=12, timezone=ZONE)
    )
    import_lines(server.storage, TENANT, [*calls, *(extra or [])], workers=1)
    server.tenant("othercorp", calls=[])
    return Api(server, credential)


class Console:
    """One browser tab on the page, watching for script errors."""

    def __init__(
        self,
        browser: Browser,
        server: LiveServer,
        viewport: dict[str, int],
        touch: bool = False,
        zone: str = ZONE,
    ) -> None:
        self.server = server
        self.context = browser.new_context(
            viewport=viewport,
            accept_downloads=True,
            timezone_id=zone,
            locale="en-US",
            has_touch=touch,
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def sign_in(self, credential: Any, path: str = "/") -> Page:
        page = self.page
        page.goto(self.server.url + path)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        self.submit_sign_in(credential)
        return page

    def submit_sign_in(self, credential: Any) -> None:
        """Fill the sign-in form of the page as it is, send it, and wait for the calls."""
        page = self.page
        page.get_by_label("API key").fill(credential.api_key)
        page.get_by_label("Token").fill(credential.token)
        page.get_by_label("Region").select_option(credential.region)
        page.get_by_label("Tenant id").fill(credential.tenant_id)
        page.get_by_role("button", name="Sign in").click()
        self.settled()

    def settled(self, before: str | None = None) -> None:
        """Wait until the page finished a load newer than `before` (body[data-ready])."""
        page = self.page
        page.wait_for_function(
            "before => document.body.dataset.ready && document.body.dataset.ready !== before",
            arg=before or "",
        )

    def ready_mark(self) -> str:
        return str(self.page.evaluate("document.body.dataset.ready || ''"))

    def change(self, action: Any) -> None:
        """Do `action` and wait for the page to show its result."""
        before = self.ready_mark()
        action()
        self.settled(before)

    def shown_ids(self) -> list[str]:
        return self.page.locator("#calls-body tr").evaluate_all(
            "rows => rows.map(r => r.dataset.callId)"
        )

    def axe(self, state: str) -> None:
        """axe-core finds no violations in the page as it is now."""
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE)
        found = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.map(v => ({id: v.id, help: v.help,
                  nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }"""
        )
        assert found == [], f"axe violations ({state}): {found}"

    def close(self) -> None:
        assert self.errors == []
        self.context.close()
