"""Time the console page: first render and a filter change, on a 20k and a 1M-call tenant.

    .venv/bin/python -m bench.console [--calls 20000 --calls 1000000] [--runs 5]
    .venv/bin/python -m bench.console --database bench/data/perf-10000000-100-730-7.duckdb \
        --tenant t000                 # the largest tenant of bench/perf's 10M-call data set

Each tenant's DuckDB file is built once under bench/data/ (demo generator, 90 days) and reused.
The page marks its own timings with the Performance API ("first-render": from the start of the
first load after sign-in to its last figure drawn; "filter-change": the same for a change of
period to this month; "page-ready": a reload with the session in the tab, from navigation to
the first full render); "click-to-ready" is Playwright's wall time from choosing the period to
the page's ready mark.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import serve
from bench.dataset import END_MS
from recent_calls.admin.credentials import issue
from recent_calls.demo import generate_calls
from recent_calls.ingest.bulk import import_lines
from recent_calls.storage import open_storage

DATA = Path(__file__).resolve().parent / "data"
NOW_MS = 1_710_345_600_000  # Wed 2024-03-13 12:00 in New York
TENANT = "acmecorp01"
ZONE = "America/New_York"
CHROMIUM = "/usr/bin/chromium"


def build(calls: int) -> Path:
    path = DATA / f"console-{calls}.duckdb"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial.duckdb")
    partial.unlink(missing_ok=True)
    storage = open_storage(str(partial))
    try:
        storage.create_tenant(TENANT, "us")
        lines = generate_calls(TENANT, calls, seed=7, end_ms=NOW_MS, days=90, timezone=ZONE)
        import_lines(storage, TENANT, lines, workers=2)
    finally:
        storage.close()
    partial.rename(path)
    return path


def credential(path: Path, tenant: str) -> tuple[str, str]:
    storage = open_storage(str(path))
    try:
        found = storage.get_tenant(tenant)
        if found is None:
            raise SystemExit(f"{path} has no tenant {tenant!r}")
        issued = issue(storage, tenant, found.region, label="bench-console")
    finally:
        storage.close()
    return issued.api_key, issued.token


def measure(url: str, api_key: str, token: str, tenant: str, runs: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {
        "first-render": [],
        "filter-change": [],
        "click-to-ready": [],
        "page-ready": [],
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=ZONE)
            page = context.new_page()
            page.goto(url + "/")
            page.get_by_label("API key").fill(api_key)
            page.get_by_label("Token").fill(token)
            page.get_by_label("Tenant id").fill(tenant)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_function("() => Boolean(document.body.dataset.ready)")
            before = page.evaluate("document.body.dataset.ready")
            started = page.evaluate("performance.now()")
            page.get_by_label("Period", exact=True).select_option("month")
            page.wait_for_function("b => document.body.dataset.ready !== b", arg=before)
            ended = page.evaluate("performance.now()")
            marks = page.evaluate(
                "performance.getEntriesByType('measure').map(m => [m.name, m.duration])"
            )
            for name, duration in marks:
                if name in found:
                    found[name].append(duration)
            found["click-to-ready"].append(ended - started)
            # A reload in the same tab keeps the session: navigation to first full render.
            page.reload()
            page.wait_for_function("() => performance.getEntriesByName('page-ready').length")
            found["page-ready"].append(
                page.evaluate("performance.getEntriesByName('page-ready')[0].duration")
            )
            context.close()
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, action="append")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", type=Path, help="time the page on this database instead")
    parser.add_argument("--tenant", default=TENANT, help="with --database: whose calls")
    args = parser.parse_args()
    if args.database is not None:
        # bench/perf's data set ends at its END_MS: the page's "now" is then.
        report(
            f"{args.tenant} of {args.database.name}",
            args.database,
            args.tenant,
            END_MS - 1,
            args.runs,
        )
        return
    for calls in args.calls or [20_000, 1_000_000]:
        report(f"{calls:>9,} calls", build(calls), TENANT, NOW_MS, args.runs)


def report(label: str, path: Path, tenant: str, now_ms: int, runs: int) -> None:
    api_key, token = credential(path, tenant)
    with serve(str(path), now_ms) as served:
        found = measure(served.url, api_key, token, tenant, runs)
    for name, values in found.items():
        print(
            f"{label}  {name:<15} median {statistics.median(values):7.1f} ms"
            f"  min {min(values):7.1f}  max {max(values):7.1f}  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
