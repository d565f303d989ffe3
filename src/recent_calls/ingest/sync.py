"""Mirror a tenant from another Recent Calls server into the local store, incrementally.

A run asks the source for the calls that started in [watermark - overlap, now + 1 day], in
UTC and oldest first, and imports each page as it arrives (the local import replaces calls by
callId, so calls fetched twice are stored once). The watermark is the start time up to which
every call has been mirrored; it is kept per (tenant, source) in the local database.

- When the source honours the order asked for (this project's servers do), the watermark moves
  forward after every imported page: an interrupted run resumes where it stopped.
- When it does not (the vendor's API ignores `sortOrder`), pages come newest first, and the
  watermark moves only once the whole window is mirrored: an interrupted run starts over.

The watermark never moves past the local clock plus `MAX_SKEW_MS`: a call the source stamps in
the future is stored, but does not make the next run skip the real calls before it.

The overlap (15 minutes unless told) re-reads calls that reached the source after the last run
although they started before its watermark, as calls do that end after the run began.

With `erase_missing`, a run also erases what its source erased (retention, a caller's
erasure): the local calls that started in the window it re-read and that the source no longer
returned are deleted. Only when the source's answer was whole (its `hits` equal to the distinct
calls fetched) and, unless `allow_mass_erase`, when it would delete at most `MASS_ERASE` calls or
half of the window's local calls: a source answering for the wrong tenant or region must not
empty a mirror. The window is the overlap, or the whole history with `full`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

import orjson

from recent_calls.client import Page, Query, RecentCallsClient
from recent_calls.clock import Clock, system_clock
from recent_calls.ingest.bulk import ImportReport

DEFAULT_OVERLAP_MS = 15 * 60 * 1000
LOOKAHEAD_MS = 24 * 3600 * 1000
MAX_SKEW_MS = 5 * 60 * 1000
MASS_ERASE = 10
ID_PAGE = 10_000  # callIds per page asked of the local side (the admin API's largest)


class Mirror(Protocol):
    """What a sync needs of the local side: the import and the watermarks (an `Admin` has them)."""

    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport: ...
    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None: ...
    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None: ...
    def call_ids(
        self, tenant_id: str, low_ms: int, high_ms: int, after: str | None, limit: int
    ) -> list[str]: ...
    def erase_calls(self, tenant_id: str, call_ids: list[str]) -> int: ...


@dataclass
class SyncReport:
    """What a run fetched and stored, and the watermark before and after it."""

    source: str
    window: tuple[int, int]
    watermark_before: int | None
    watermark_after: int | None = None
    ordered: bool = False
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    replaced: int = 0
    hits: int = 0
    erased: int = 0
    erase_skipped: str | None = None


def source_key(client: RecentCallsClient) -> str:
    """How a source is named in the watermark table: its base URL and region."""
    return f"{client.base_url}/{client.region}"


def sync_tenant(
    client: RecentCallsClient,
    admin: Mirror,
    tenant_id: str,
    *,
    local_tenant: str | None = None,
    overlap_ms: int = DEFAULT_OVERLAP_MS,
    rows: int = 1000,
    full: bool = False,
    skip_invalid: bool = False,
    clock: Clock = system_clock,
    on_page: Callable[[SyncReport, Page], None] | None = None,
    erase_missing: bool = False,
    allow_mass_erase: bool = False,
) -> SyncReport:
    """Mirror `tenant_id` from `client`'s server into `local_tenant` (the same id unless told).

    `full` ignores the watermark and reads the whole history again. `on_page` is called after
    each page is stored (and the watermark, when it can, moved past it). `erase_missing` and
    `allow_mass_erase`: see the module's docstring.
    """
    local = local_tenant or tenant_id
    source = source_key(client)
    before = None if full else admin.get_sync_watermark(local, source)
    now = clock()
    low = 0 if before is None else max(0, before - overlap_ms)
    report = SyncReport(source, (low, now + LOOKAHEAD_MS), before, before)
    # UTC: callDate is then never ambiguous (no DST), so every start time reads back exactly.
    query = Query(
        time_range=report.window, timezone="UTC", sort_column="callDate", sort_order="asc"
    )
    newest = before
    seen: set[str] = set()
    for page in client.iter_pages(tenant_id, query, rows=rows):
        if erase_missing:
            seen.update(call.call_id for call in page.calls)
        lines = b"".join(orjson.dumps(call.as_import_line()) + b"\n" for call in page.calls)
        stored = admin.import_file(
            local, io.BytesIO(lines), timezone="UTC", skip_invalid=skip_invalid
        )
        report.pages += 1
        report.fetched += len(page.calls)
        report.inserted += stored.inserted
        report.replaced += stored.replaced
        report.hits = page.hits
        report.ordered = page.sort_order == "asc" and page.sort_column == "callDate"
        latest = min(max(call.start_ms for call in page.calls), clock() + MAX_SKEW_MS)
        newest = latest if newest is None else max(newest, latest)
        if report.ordered and newest != report.watermark_after:
            # Oldest first: every call that started before this page's last one is stored.
            admin.set_sync_watermark(local, source, newest)
            report.watermark_after = newest
        if on_page:
            on_page(report, page)
    if newest is not None and newest != report.watermark_after:
        admin.set_sync_watermark(local, source, newest)
        report.watermark_after = newest
    if erase_missing:
        if not report.pages:
            # No page held a call: what the source says it has is then asked for by itself (a
            # source whose first page is empty but whose hits are not is not an empty window).
            report.hits = client.count(tenant_id, query)
        _erase_missing(admin, local, report, seen, allow_mass_erase)
    return report


def _erase_missing(
    admin: Mirror, local: str, report: SyncReport, seen: set[str], allow_mass_erase: bool
) -> None:
    """Delete the local calls of the re-read window that the source did not return."""
    if report.hits != len(seen):
        report.erase_skipped = (
            f"the source reported {report.hits} calls in the window but {len(seen)} distinct "
            "calls were fetched (calls changed during the run?): nothing was erased"
        )
        return
    low, high = report.window
    mirrored: list[str] = []
    after = None
    while True:
        ids = admin.call_ids(local, low, high, after, ID_PAGE)
        mirrored.extend(ids)
        if len(ids) < ID_PAGE:
            break
        after = ids[-1]
    missing = [call_id for call_id in mirrored if call_id not in seen]
    if not missing:
        return
    if not allow_mass_erase and len(missing) > max(MASS_ERASE, len(mirrored) // 2):
        report.erase_skipped = (
            f"the source no longer has {len(missing)} of the {len(mirrored)} calls mirrored "
            "in the window; that many is refused unless allowed (is it the right tenant and "
            "region?): nothing was erased"
        )
        return
    report.erased = admin.erase_calls(local, missing)
