"""`recent-calls sync`: a tenant mirrored between two running servers, incrementally."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from recent_calls.admin.credentials import IssuedCredential, issue
from recent_calls.admin.local import LocalAdmin
from recent_calls.admin.remote import RemoteAdmin
from recent_calls.cli.main import main
from recent_calls.client import Page, Query, RecentCallsClient
from recent_calls.ingest.sync import MAX_SKEW_MS, SyncReport, source_key, sync_tenant
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.support import FROZEN_NOW, NOW, LiveServer, connect, serving, varied_calls
from tests.upstream import answer, item, page, upstream


class Interrupted(Exception):
    pass


@dataclass
class Mirror:
    url: str
    storage: Storage
    admin: RemoteAdmin


@pytest.fixture
def mirror(other_database: str) -> Iterator[Mirror]:
    """A second server, on its own database, whose admin API sync drives (as the CLI would)."""
    storage = open_storage(other_database)
    settings = Settings(database=other_database, now=FROZEN_NOW)
    settings = settings.model_copy(update={"admin_token": "mirror-admin"})
    with ExitStack() as stack:
        url = stack.enter_context(serving(settings, storage))
        admin = RemoteAdmin(url, "mirror-admin")
        stack.callback(admin.http.close)
        yield Mirror(url, storage, admin)
    storage.close()


def everything(url: str, credential: IssuedCredential, timezone: str = "UTC") -> list[Any]:
    """Every call the API shows, in its order, as sent."""
    client = RecentCallsClient(
        url, api_key=credential.api_key, token=credential.token, region=credential.region
    )
    with client:
        return [
            call.raw for call in client.iter_calls(credential.tenant_id, Query(timezone=timezone))
        ]


def stop_after(pages: int) -> Any:
    def step(report: SyncReport, page: Page) -> None:
        if report.pages >= pages:
            raise Interrupted

    return step


def test_an_interrupted_sync_resumes_and_ends_identical(server: LiveServer, mirror: Mirror) -> None:
    source = server.tenant("acme", calls=varied_calls(60))
    reader = mirror.admin.create_tenant("acme", "us")
    with connect(server, source) as client:
        with pytest.raises(Interrupted):
            sync_tenant(client, mirror.admin, "acme", rows=7, on_page=stop_after(3))
        watermark = mirror.admin.get_sync_watermark("acme", source_key(client))
        assert watermark == NOW - 40 * 2_700_000  # the 21st oldest call: pages went oldest first
        assert len(everything(mirror.url, reader)) == 21

        resumed = sync_tenant(client, mirror.admin, "acme", rows=7)
        assert resumed.ordered and resumed.watermark_before == watermark
        assert resumed.fetched == 40  # the 39 not yet mirrored, and the one at the watermark
        assert resumed.watermark_after == NOW - 2_700_000
        assert everything(mirror.url, reader) == everything(server.url, source)

        # New calls, a late one inside the overlap, and a changed one: only they are fetched.
        client.push(
            "acme",
            [
                make_call("new-1", NOW + 60_000),
                make_call("late", NOW - 2_700_000 - 600_000, callerName="Late Arrival"),
                {**varied_calls(1)[0], "callerName": "Renamed"},
            ],
        )
        later = sync_tenant(client, mirror.admin, "acme", rows=7)
        assert (later.fetched, later.inserted, later.replaced) == (3, 2, 1)
        assert everything(mirror.url, reader) == everything(server.url, source)
        assert everything(mirror.url, reader, "Asia/Kolkata") == everything(
            server.url, source, "Asia/Kolkata"
        )
        again = sync_tenant(client, mirror.admin, "acme", rows=7)
        assert (again.fetched, again.inserted) == (1, 0)  # just the overlap


class IgnoresOrder(httpx.HTTPTransport):
    """A source that, like the vendor's API, does not know sortColumn and sortOrder."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        body.pop("sortColumn", None)
        body.pop("sortOrder", None)
        content = orjson.dumps(body)
        headers = {**request.headers, "content-length": str(len(content))}
        forwarded = httpx.Request(request.method, request.url, headers=headers, content=content)
        return super().handle_request(forwarded)


def test_a_source_without_ordering_moves_the_watermark_only_when_done(
    server: LiveServer, mirror: Mirror
) -> None:
    source = server.tenant("acme", calls=varied_calls(30))
    reader = mirror.admin.create_tenant("acme", "us")
    with connect(server, source, transport=IgnoresOrder()) as client:
        with pytest.raises(Interrupted):
            sync_tenant(client, mirror.admin, "acme", rows=4, on_page=stop_after(2))
        assert mirror.admin.get_sync_watermark("acme", source_key(client)) is None
        done = sync_tenant(client, mirror.admin, "acme", rows=4)
        assert not done.ordered and done.fetched == 30 and done.inserted == 22
        assert done.watermark_after == NOW - 2_700_000
    assert everything(mirror.url, reader) == everything(server.url, source)


def test_sync_command_mirrors_into_a_local_database(
    server: LiveServer, other_database: str
) -> None:
    source = server.tenant("acme", "uk", calls=varied_calls(12))
    database = other_database
    command = ["sync", "--from", server.url, "--api-key", source.api_key, "--token"]
    args = [*command, source.token, "--region", "uk", "--tenant", "acme", "--database", database]
    first = CliRunner().invoke(main, [*args, "--rows", "5"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "created tenant acme (region uk)" in first.stderr
    assert "12 calls in 3 pages, 12 new, 0 replaced" in first.stdout
    second = CliRunner().invoke(main, [*args, "--overlap", "0"], catch_exceptions=False)
    assert "1 calls in 1 pages, 0 new, 1 replaced" in second.stdout
    storage = open_storage(database)
    try:
        reader = issue(storage, "acme", "uk")
        with serving(Settings(database=database, now=FROZEN_NOW), storage) as url:
            assert everything(url, reader) == everything(server.url, source)
    finally:
        storage.close()


def test_watermarks_are_kept_per_tenant_and_source(storage: Storage) -> None:
    assert storage.get_sync_watermark("acme", "https://a/us") is None
    storage.set_sync_watermark("acme", "https://a/us", 5)
    storage.set_sync_watermark("acme", "https://a/us", 7)
    storage.set_sync_watermark("acme", "https://b/us", 1)
    storage.set_sync_watermark("beta", "https://a/us", 2)
    assert storage.get_sync_watermark("acme", "https://a/us") == 7
    assert storage.get_sync_watermark("acme", "https://b/us") == 1
    assert storage.get_sync_watermark("beta", "https://a/us") == 2


# -- a hostile upstream -----------------------------------------------------------------------


def hostile_sync(storage: Storage, url: str, **options: Any) -> SyncReport:
    admin = LocalAdmin(storage, clock=lambda: NOW)
    admin.create_tenant("acme", "us")
    with RecentCallsClient(url, api_key="k", token="t", retries=0) as client:
        return sync_tenant(client, admin, "acme", clock=lambda: NOW, **options)


def test_sync_stops_at_hits_when_the_pages_never_end(storage: Storage) -> None:
    counter = iter(range(1_000_000))

    def endless(body: dict[str, Any], conn: socket.socket) -> None:
        fresh = [item(f"c{next(counter)}", NOW - 3_600_000) for _ in range(body["rows"])]
        answer(conn, page(fresh, hits=5, number=body["page"]))

    with upstream(endless) as (url, seen):
        report = hostile_sync(storage, url, rows=2)
    assert (report.pages, report.fetched, len(seen)) == (3, 6, 3)
    assert storage.count_calls("acme") == 6


def test_sync_stops_when_a_page_brings_no_new_call(storage: Storage) -> None:
    same = [item("a", NOW - 7_200_000), item("b", NOW - 3_600_000)]

    def repeats(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, page(same, hits=1_000_000, number=body["page"]))

    with upstream(repeats) as (url, seen):
        report = hostile_sync(storage, url, rows=2)
    assert (report.pages, report.fetched, len(seen)) == (1, 2, 2)
    assert report.watermark_after == NOW - 3_600_000


def test_a_call_stamped_in_the_future_moves_the_watermark_no_further_than_the_skew(
    storage: Storage,
) -> None:
    calls = [item("now", NOW - 60_000), item("ahead", NOW + 23 * 3_600_000)]

    def future(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, page(calls, hits=2))

    with upstream(future) as (url, _):
        report = hostile_sync(storage, url)
    assert report.fetched == 2 and storage.count_calls("acme") == 2
    assert report.watermark_after == NOW + MAX_SKEW_MS
    assert storage.get_sync_watermark("acme", f"{url}/us") == NOW + MAX_SKEW_MS


# -- erasing what the source erased -----------------------------------------------------------


def _ids(storage: Storage, tenant_id: str) -> set[str]:
    return set(storage.call_ids_between(tenant_id, 0, 2**45, None, 100_000))


def test_a_mirror_erases_what_its_source_erased_within_the_window_it_rereads(
    server: LiveServer, mirror: Mirror
) -> None:
    calls = varied_calls(40)
    source = server.tenant("acme", calls=calls)
    mirror.admin.create_tenant("acme", "us")
    erased_number = "7325500003"  # call acme-003, 3 h before now: outside the 15 min overlap
    with connect(server, source) as client:
        sync_tenant(client, mirror.admin, "acme", rows=9)
        LocalAdmin(server.storage).erase("acme", erased_number, None, dry_run=False)
        # The newest call erased at the source too: inside the overlap every sync re-reads.
        server.storage.delete_call_ids("acme", ["acme-000"])

        plain = sync_tenant(client, mirror.admin, "acme", rows=9)
        assert plain.erased == 0 and _ids(mirror.storage, "acme") == {c["callId"] for c in calls}
        overlap = sync_tenant(client, mirror.admin, "acme", rows=9, erase_missing=True)
        assert (overlap.erased, overlap.erase_skipped) == (1, None)
        assert "acme-000" not in _ids(mirror.storage, "acme")
        assert "acme-003" in _ids(mirror.storage, "acme")  # before the window: not re-read

        whole = sync_tenant(client, mirror.admin, "acme", rows=9, full=True, erase_missing=True)
        assert (whole.erased, whole.hits, whole.fetched) == (1, 38, 38)
        assert _ids(mirror.storage, "acme") == _ids(server.storage, "acme")
        again = sync_tenant(client, mirror.admin, "acme", rows=9, full=True, erase_missing=True)
        assert again.erased == 0
    audit = [e for e in mirror.admin.audit_log("acme", 20) if e["action"] == "calls.erase"]
    assert [e["detail"] for e in audit] == ["erased=1 asked=1", "erased=1 asked=1"]
    assert all(erased_number not in str(e) for e in mirror.admin.audit_log(None, 100))


def test_a_source_answering_for_nobody_cannot_empty_a_mirror(
    server: LiveServer, mirror: Mirror
) -> None:
    source = server.tenant("acme", calls=varied_calls(30))
    mirror.admin.create_tenant("acme", "us")
    with connect(server, source) as client:
        sync_tenant(client, mirror.admin, "acme")
        server.storage.delete_calls("acme")  # as a source answering for another tenant would
        refused = sync_tenant(client, mirror.admin, "acme", full=True, erase_missing=True)
        assert refused.erased == 0 and "30 of the 30 calls" in (refused.erase_skipped or "")
        assert len(_ids(mirror.storage, "acme")) == 30
        allowed = sync_tenant(
            client, mirror.admin, "acme", full=True, erase_missing=True, allow_mass_erase=True
        )
        assert allowed.erased == 30 and _ids(mirror.storage, "acme") == set()


def test_an_incomplete_answer_erases_nothing(storage: Storage) -> None:
    admin = LocalAdmin(storage, clock=lambda: NOW)
    admin.create_tenant("acme", "us")
    admin.store_calls("acme", [make_call(f"old-{i}", NOW - 3_600_000 - i) for i in range(3)])
    same = [item("a", NOW - 7_200_000), item("b", NOW - 3_600_000)]

    def repeats(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, page(same, hits=1_000_000, number=body["page"]))

    with (
        upstream(repeats) as (url, _),
        RecentCallsClient(url, api_key="k", token="t", retries=0) as client,
    ):
        report = sync_tenant(
            client, admin, "acme", clock=lambda: NOW, full=True, erase_missing=True
        )
    assert report.erased == 0
    assert "reported 1000000 calls" in (report.erase_skipped or "")
    assert _ids(storage, "acme") == {"a", "b", "old-0", "old-1", "old-2"}


def test_sync_command_erases_what_the_source_erased(
    server: LiveServer, other_database: str
) -> None:
    source = server.tenant("acme", calls=varied_calls(12))
    command = ["sync", "--from", server.url, "--api-key", source.api_key, "--token"]
    args = [*command, source.token, "--region", "us", "--tenant", "acme"]
    args += ["--database", other_database]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    server.storage.delete_call_ids("acme", ["acme-005", "acme-006"])
    second = CliRunner().invoke(main, [*args, "--full", "--erase-missing"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "10 calls in 1 pages, 0 new, 10 replaced" in second.stdout
    assert "; 2 erased (gone from the source)" in second.stdout
    storage = open_storage(other_database)
    try:
        assert _ids(storage, "acme") == _ids(server.storage, "acme")
    finally:
        storage.close()


def test_an_empty_page_that_claims_calls_erases_nothing(storage: Storage) -> None:
    admin = LocalAdmin(storage, clock=lambda: NOW)
    admin.create_tenant("acme", "us")
    admin.store_calls("acme", [make_call(f"old-{i}", NOW - 3_600_000 - i) for i in range(3)])

    def claims(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, page([], hits=5, number=body["page"]))

    with (
        upstream(claims) as (url, _),
        RecentCallsClient(url, api_key="k", token="t", retries=0) as client,
    ):
        report = sync_tenant(
            client, admin, "acme", clock=lambda: NOW, full=True, erase_missing=True
        )
    assert (report.pages, report.erased, report.hits) == (0, 0, 5)
    assert "reported 5 calls" in (report.erase_skipped or "")
    assert _ids(storage, "acme") == {"old-0", "old-1", "old-2"}
