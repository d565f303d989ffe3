"""Storage: the page plan against a plain sort, compaction, isolation, and tenant scoping."""

from __future__ import annotations

import random
import re
import secrets
import threading
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.api.app import create_app
from recent_calls.api.render import item_parts, render_response
from recent_calls.errors import DuplicateTenant, ImportRejected
from recent_calls.fields import SORT_COLUMNS
from recent_calls.ingest.bulk import import_lines
from recent_calls.ingest.records import MAX_MS, MAX_START_MS, MIN_START_MS
from recent_calls.query.breakdowns import Grouping
from recent_calls.query.directory import Entry
from recent_calls.query.ordering import Ordering
from recent_calls.query.request import parse_request
from recent_calls.settings import Settings
from recent_calls.storage import duckdb_store, postgres_store
from recent_calls.storage.base import Credential, Run, Storage
from recent_calls.storage.scope import TENANT_PARAM
from tests.calls import bound, make_call, rows_of, stored
from tests.support import InProcessHTTP

START = 1700000000000


def seeded_calls(count: int, seed: int) -> list[dict[str, Any]]:
    """Calls with many ties on every sort key, so tie-breaking decides most of the order."""
    rng = random.Random(seed)
    return [
        make_call(
            f"c{rng.randrange(10**6):06d}-{i}",
            START + rng.randrange(20) * 1000,
            callDuration=str(rng.choice([1000, 2000, 3000])),
            callerName=rng.choice(["ann", "Ann", "bob", "Émile", ""]),
            queueId=rng.choice(["1", "2,3", "10"]),
            transferCount=f"{rng.randrange(3)}.0",
        )
        for i in range(count)
    ]


def request(**fields: Any) -> Any:
    return parse_request({"tenantId": "t", "duration": "allhistory", **fields}, 0)


@pytest.mark.parametrize("column", [None, *SORT_COLUMNS])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_page_of_the_plan_matches_one_plain_sort(
    storage: Storage, column: str | None, order: str
) -> None:
    storage.create_tenant("t", "us")
    import_lines(storage, "t", seeded_calls(120, seed=3))
    whole = storage.search(
        bound("t"), request(page=1, rows=5000, sortColumn=column, sortOrder=order)
    )
    assert whole.hits == 120
    walked = []
    for page in range(1, 14):
        result = storage.search(
            bound("t"), request(page=page, rows=11, sortColumn=column, sortOrder=order)
        )
        assert result.hits == 120
        walked += result.rows
    assert walked == whole.rows


DAY_MS = 86_400_000


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_of_a_window_over_many_days_match_one_plain_sort(
    storage: Storage, order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window of many days (a page's first call is found through the calls per day, PostgreSQL's
    partial first and last days through the index, from the nearer end of a day):
    calls at the first and last ms of days, ties, days without calls, windows that cut days."""

    # Every deep page here is found through the calls per day, never by the plain plan.
    def plain_plan(*args: Any) -> Any:
        raise AssertionError("the plain plan answered")

    monkeypatch.setattr(Storage, "_plain_boundary", plain_plan)
    monkeypatch.setattr(duckdb_store, "DAY_WALK_MIN_OFFSET", 0)
    rng = random.Random(11)
    day0 = START // DAY_MS * DAY_MS
    starts = [
        day0 + day * DAY_MS + rng.choice([0, 0, 1, DAY_MS - 1, rng.randrange(DAY_MS)])
        for day in rng.choices([0, 1, 2, 4, 5, 8, 9], k=150)  # no call on days 3, 6 and 7
    ]
    storage.create_tenant("t", "us")
    import_lines(storage, "t", [make_call(f"c{i:03d}", at) for i, at in enumerate(starts)])
    windows = [
        {"duration": "allhistory"},
        {"timeRange": f"{day0}-{day0 + 10 * DAY_MS - 1}"},  # whole days
        {"timeRange": f"{day0 + 1}-{day0 + 9 * DAY_MS + 5}"},  # a day cut at each end
        {"timeRange": f"{day0 + 2 * DAY_MS - 1}-{day0 + 5 * DAY_MS}"},
    ]
    for window in windows:
        fields = {**window, "sortOrder": order, "duration": window.get("duration")}
        whole = storage.search(bound("t"), request(page=1, rows=5000, **fields))
        inside = [at for at in starts if window.get("duration") or _inside(at, window)]
        assert whole.hits == len(inside) > 20, window
        walked = []
        for page in range(1, whole.hits // 7 + 2):
            result = storage.search(bound("t"), request(page=page, rows=7, **fields))
            assert result.hits == whole.hits
            walked += result.rows
        assert walked == whole.rows, window


def _inside(at: int, window: dict[str, str]) -> bool:
    low, high = map(int, window["timeRange"].split("-"))
    return low <= at <= high


def test_compaction_keeps_every_call_and_every_answer(storage: Storage) -> None:
    storage.create_tenant("t", "us")
    storage.create_tenant("u", "uk")
    calls = seeded_calls(300, seed=5)
    for tenant in ("t", "u"):
        for start in range(0, 300, 50):  # many small, interleaved appends
            import_lines(storage, tenant, calls[start : start + 50])
    before = storage.search(bound("t"), request(page=2, rows=40, sortColumn="callerName"))
    storage.compact()
    after = storage.search(bound("t"), request(page=2, rows=40, sortColumn="callerName"))
    assert after == before
    assert storage.count_calls("t") == storage.count_calls("u") == 300


def test_other_tenants_calls_are_invisible(storage: Storage) -> None:
    storage.create_tenant("t", "us")
    storage.create_tenant("u", "us")
    import_lines(storage, "t", [make_call("mine", START)])
    import_lines(storage, "u", [make_call("theirs", START), make_call("mine", START + 1)])
    result = storage.search(bound("t"), request(page=1, rows=100))
    assert result.hits == 1
    assert [row[0] for row in result.rows] == ["mine"]
    assert storage.count_calls("u") == 2


def test_every_statement_on_call_data_is_bound_to_one_tenant(storage: Storage) -> None:
    """Every storage method on a tenant's data, traced: each statement gets its scope from
    storage/scope.py (compaction and migrations, which rewrite every tenant's rows and return
    none of them, are the only statements without one, and are not traced here)."""
    storage.create_tenant("t", "us")
    storage.create_tenant("u", "us")
    with storage.trace() as seen:
        import_lines(storage, "t", seeded_calls(60, seed=1))
        import_lines(storage, "t", seeded_calls(30, seed=1))  # replaces: the upsert's own path
        import_lines(storage, "u", seeded_calls(20, seed=2))
        storage.upsert_calls("t", rows_of(make_call("pushed", START)))
        for version in (5, 3, None, 4):  # versioned: stored, kept, replaced without, replaced
            import_lines(storage, "t", [make_call("versioned", START, sourceVersion=version)])
        for page in (1, 2, 9):
            storage.search(
                bound("t"), request(page=page, rows=7, callerName=["a"], sortColumn="queueId")
            )
        storage.search(bound("t"), request(page=5, rows=10, tenantQueues=["1"]))
        storage.stats(bound("t"), request(page=1, rows=1), "day")
        for by in ("queue", "agent", "agentGroup", "channel"):
            storage.stats(bound("t"), request(page=1, rows=1), "hour", Grouping(by, 20))
        storage.facets(bound("t"))
        storage.replace_directory("t", [Entry("queue", "1", "Billing")])
        storage.directory("t")
        storage.directory_ids("t")
        storage.count_calls("t")
        storage.set_sync_watermark("t", "src", 5)
        storage.get_sync_watermark("t", "src")
        storage.call_ids_between("t", 0, START + 1, "a", 10)
        storage.delete_call_ids("t", ["pushed"])
        storage.delete_calls("u")
    assert_scoped(storage, [sql for sql, _ in seen], at_least=20)


def assert_scoped(storage: Storage, statements: list[str], at_least: int) -> None:
    """Fail on any statement that reads, writes or deletes calls or sync watermarks of no one
    tenant: a FROM/JOIN without the scope's condition, an INSERT that stores another value
    than the tenant parameter, or an UPDATE (storage never updates call data in place)."""
    param = re.escape(storage.dialect.param(TENANT_PARAM))
    scope = rf"(calls\.)?tenant_id = {param}"
    on_data = [
        sql
        for sql in statements
        if re.search(r"\b(calls|sync_watermarks|call_days|directory)\b", sql)
    ]
    assert len(on_data) >= at_least, on_data
    for sql in on_data:
        assert not re.search(r"\bUPDATE\s+(calls|sync_watermarks|call_days|directory)\b", sql), sql
        for found in re.finditer(
            r"\b(FROM|JOIN)\s+(calls|sync_watermarks|call_days|directory)\b", sql
        ):
            after = sql[found.end() :]
            keyword = "ON" if found[1] == "JOIN" else "WHERE"
            assert re.match(rf"\s+{keyword}\s+{scope}", after), sql
        for found in re.finditer(r"\bINSERT INTO (calls|sync_watermarks|directory)\b", sql):
            after = sql[found.end() :]
            assert re.match(rf"(\s*\([^)]*\))?\s+(SELECT|VALUES \()\s*{param},", after), sql


# -- tenants, credentials and imports, on every engine ----------------------------------------


def test_tenants_and_credentials_round_trip(storage: Storage) -> None:
    acme = storage.create_tenant("acme", "us")
    storage.create_tenant("beta", "uk")
    with pytest.raises(DuplicateTenant):
        storage.create_tenant("acme", "uk")
    assert storage.get_tenant("acme") == acme
    assert storage.get_tenant("nobody") is None
    assert [tenant.tenant_id for tenant in storage.list_tenants()] == ["acme", "beta"]

    first = Credential("kh1", "acme", "k1", "th1", "first", 1000)
    second = Credential("kh2", "acme", "k2", "th2", "second % _ 'quoted'", 2000)
    storage.add_credential(second)
    storage.add_credential(first)
    storage.add_credential(Credential("kh3", "beta", "k3", "th3", "", 1500))
    assert storage.credential_by_key("kh2") == second
    assert storage.credential_by_key("missing") is None
    assert storage.list_credentials("acme") == [first, second]
    assert storage.revoke_credential("acme", "k1") is True
    assert storage.revoke_credential("acme", "k1") is False
    assert storage.revoke_credential("beta", "k2") is False  # another tenant's key id
    revoked = storage.credential_by_key("kh1")
    assert revoked is not None and revoked.revoked_ms is not None
    assert storage.credential_by_key("kh3") == Credential("kh3", "beta", "k3", "th3", "", 1500)


def test_upsert_counts_inserted_and_replaced_and_the_last_of_a_batch_wins(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    storage.create_tenant("beta", "us")
    first = import_lines(
        storage,
        "acme",
        [
            make_call("a", START, callerName="first"),
            make_call("b", START),
            make_call("a", START + 1, callerName="last"),
        ],
    )
    assert (first.received, first.inserted, first.replaced) == (3, 2, 0)
    assert stored(storage, "acme")["a"][1:3] == (START + 1, "last")

    again = import_lines(storage, "acme", [make_call("a", START), make_call("c", START)])
    assert (again.received, again.inserted, again.replaced) == (2, 1, 1)
    assert set(stored(storage, "acme")) == {"a", "b", "c"}

    # The same callId in another tenant is another call.
    other = storage.upsert_calls("beta", rows_of(make_call("a", START, callerName="beta's")))
    assert (other.inserted, other.replaced) == (1, 0)
    assert stored(storage, "acme")["a"][2] == "Pat Caller"
    assert storage.count_calls("acme") == 3 and storage.count_calls("beta") == 1


def test_a_call_id_repeated_across_batches_counts_once(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    storage.upsert_calls("acme", rows_of(make_call("old", START, callerName="before")))
    with storage.begin_import("acme") as staged:
        staged.add(rows_of(make_call("new", START, callerName="n1"), make_call("old", START)))
        staged.add(rows_of(make_call("old", START, callerName="o2"), make_call("x", START)))
        staged.add(rows_of(make_call("new", START, callerName="n3")))
        staged.add([])
        result = staged.commit()
    assert (result.received, result.inserted, result.replaced) == (5, 2, 1)
    calls = stored(storage, "acme")
    assert (calls["new"][2], calls["old"][2]) == ("n3", "o2")
    assert storage.upsert_calls("acme", []).received == 0


@pytest.mark.parametrize("seed", range(5))
def test_staged_batches_of_any_size_keep_every_call_and_the_last_version(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # The embedded engine appends staged rows in whole row groups and keeps the rest pending:
    # with a group of 3 rows, batches of every size end inside, at and across group boundaries.
    monkeypatch.setattr(duckdb_store, "ROW_GROUP_ROWS", 3)
    storage.create_tenant("acme", "us")
    storage.upsert_calls("acme", rows_of(make_call("c0", START, callerName="before")))
    rng = random.Random(seed)
    expected = {"c0": "before"}
    received, staged_ids = 0, set()
    with storage.begin_import("acme") as staged:
        for batch in range(12):
            calls = [
                make_call(f"c{rng.randrange(15)}", START, callerName=f"v{batch}.{i}")
                for i in range(rng.choice([0, 1, 2, 3, 4, 5, 7]))
            ]
            staged.add(rows_of(*calls))
            received += len(calls)
            expected.update((call["callId"], call["callerName"]) for call in calls)
            staged_ids.update(call["callId"] for call in calls)
        result = staged.commit()
    assert result.received == received
    replaced = int("c0" in staged_ids)
    assert (result.inserted, result.replaced) == (len(staged_ids) - replaced, replaced)
    names = {call_id: row[2] for call_id, row in stored(storage, "acme").items()}
    assert names == expected


def test_concurrent_imports_of_overlapping_calls_count_each_call_once(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    halves = [
        [make_call(f"c{i:05d}", START + i, callerName=f"from {name}") for i in span]
        for name, span in (("a", range(0, 3000)), ("b", range(1500, 4500)))
    ]
    reports: list[Any] = []
    start = threading.Barrier(2)

    def load(calls: list[dict[str, Any]]) -> None:
        start.wait(timeout=10)
        reports.append(import_lines(storage, "acme", calls))

    threads = [threading.Thread(target=load, args=(calls,)) for calls in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(report.inserted for report in reports) == 4500
    assert sum(report.replaced for report in reports) == 1500
    assert storage.count_calls("acme") == 4500


def test_an_aborted_import_leaves_nothing(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    storage.upsert_calls("acme", rows_of(make_call("kept", START, callerName="kept")))

    staged = storage.begin_import("acme")
    staged.add(rows_of(*(make_call(f"c{i}", START) for i in range(100))))
    staged.add(rows_of(make_call("kept", START, callerName="overwritten")))
    staged.abort()
    staged.abort()  # harmless twice

    with pytest.raises(RuntimeError), storage.begin_import("acme") as failing:
        failing.add(rows_of(make_call("z", START)))
        raise RuntimeError("the caller gave up")

    with pytest.raises(ImportRejected):
        import_lines(storage, "acme", [make_call("y", START), {"callId": "bad"}])

    assert stored(storage, "acme") == {"kept": ("kept", START, "kept", ["100"])}


AWKWARD = ["tab\there", "new\nline", "cr\rhere", "back\\slash", '"quoted"', "{braces}", "NULL",
           "\\N", "", " padded ", "émile ☎", "a,b"]  # fmt: skip


@pytest.mark.parametrize("text", AWKWARD)
def test_awkward_text_round_trips_through_a_bulk_import(storage: Storage, text: str) -> None:
    """Every engine's bulk staging format (Arrow, COPY text) keeps text exactly."""
    storage.create_tenant("acme", "us")
    call = make_call("x", START, callerName=text, agentId=[text or "none", "b"], queueId=[text])
    import_lines(storage, "acme", [call], workers=1)
    _, _, name, queues = stored(storage, "acme")["x"]
    assert name == text
    assert list(queues) == ([text.strip()] if text.strip() else [])


# Text as an import keeps it: any character but NUL (refused) and surrogates (not UTF-8), with
# the characters COPY text and array literals escape drawn often.
_ESCAPED = st.sampled_from(["\t", "\n", "\r", "\\", '"', ",", "{", "}", "\\N", " ", "NULL"])
_TEXT = st.lists(
    st.one_of(_ESCAPED, st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    max_size=6,
).map("".join)
_TEXT_FIELDS = {"callerName": "caller_name", "dialedNumber": "dialed_number",
                "callType": "call_type", "scheduleHours": "schedule_hours"}  # fmt: skip
_LIST_FIELDS = {"queueId": "queue_ids", "agentId": "agent_ids", "agentGroup": "agent_groups"}
_tenants = iter(range(10**9))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                **{field: _TEXT for field in _TEXT_FIELDS},
                **{field: st.lists(_TEXT, max_size=3) for field in _LIST_FIELDS},
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_batch_of_plain_and_awkward_text_round_trips_column_by_column(
    storage: Storage, fields: list[dict[str, Any]]
) -> None:
    """A batch is staged column by column (COPY text on PostgreSQL): one awkward value in a
    column of plain ones, or the reverse, is kept exactly, and so are the others."""
    tenant = f"t{next(_tenants)}"
    storage.create_tenant(tenant, "us")
    calls = [make_call(f"c{i}", START + i, **values) for i, values in enumerate(fields)]
    import_lines(storage, tenant, calls, workers=1)
    columns = [*_TEXT_FIELDS.values(), *_LIST_FIELDS.values()]
    p = storage.dialect.param
    found = storage._read(
        lambda run: run(
            f"SELECT call_id, {', '.join(columns)} FROM calls WHERE tenant_id = {p('t')}",
            {"t": tenant},
        )
    )
    got = {row[0]: [*row[1:5], *(list(values) for values in row[5:])] for row in found}
    # A list field's elements are trimmed and the empty ones dropped, as the import documents.
    assert got == {
        f"c{i}": [
            *(values[field] for field in _TEXT_FIELDS),
            *([e.strip() for e in values[field] if e.strip()] for field in _LIST_FIELDS),
        ]
        for i, values in enumerate(fields)
    }


def test_every_endpoint_binds_its_statements_to_one_tenant(storage: Storage, database: str) -> None:
    """Every endpoint, called in process while storage traces: the same rule as above."""
    settings = Settings(database=database, now="1700000000000", admin_token="secret")
    http = InProcessHTTP(create_app(settings, storage=storage))
    admin = {"Authorization": "Bearer secret"}
    try:
        created = http.post(
            "/admin/v1/tenants", json={"tenantId": "t", "region": "us"}, headers=admin
        )
        assert created.status_code == 201, created.text
        key = created.json()
        auth = {"8x8-apikey": key["apiKey"], "token": key["token"]}
        body = {"tenantId": "t", "page": 2, "rows": 3, "duration": "allhistory"}
        with storage.trace() as seen:
            lines = b"".join(orjson.dumps(call) + b"\n" for call in seeded_calls(40, seed=4))
            imported = http.post("/admin/v1/tenants/t/import", content=lines, headers=admin)
            pushed = http.post(
                "/customerexperience/v1/calls/us",
                json={"tenantId": "t", "calls": [make_call("p1", START)]},
                headers=auth,
            )
            answers = [
                imported,
                pushed,
                http.post("/customerexperience/v1/recentCallData/us", json=body, headers=auth),
                http.post(
                    "/customerexperience/v1/recentCallStats/us",
                    json={**body, "interval": "hour", "callerName": ["a"]},
                    headers=auth,
                ),
                http.post("/customerexperience/v1/recentCallFacets/us", json=body, headers=auth),
                http.request(
                    "PUT",
                    "/admin/v1/tenants/t/sync-watermark",
                    json={"source": "s", "watermarkMs": 5},
                    headers=admin,
                ),
                http.get("/admin/v1/tenants/t/sync-watermark?source=s", headers=admin),
                http.get("/healthz"),
            ]
        assert [answer.status_code for answer in answers] == [
            200,
            200,
            200,
            200,
            200,
            204,
            200,
            200,
        ]
        assert_scoped(storage, [sql for sql, _ in seen], at_least=12)
    finally:
        http.close()


_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
_SECONDS = st.one_of(
    st.integers(min_value=0, max_value=MAX_MS), st.floats(min_value=0, max_value=MAX_MS)
)


# A call's fields that a page shows in every type it takes: text, times, whole and fractional.
_STORED_CALL = st.fixed_dictionaries(
    {
        "startTime": st.integers(min_value=MIN_START_MS, max_value=MAX_START_MS),
        "callerName": _NAMES,
        "callerNumber": _NAMES,
        "queueId": _NAMES,
        "agentId": _NAMES,
        "callDuration": st.integers(min_value=0, max_value=MAX_MS),
        "waitTime": _SECONDS,
        "holdDuration": _SECONDS,
        "muteDuration": st.integers(min_value=0, max_value=MAX_MS),
    }
)


def test_a_large_page_is_the_page_rows_give(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large page comes by each engine's own way (DuckDB's as Arrow columns, PostgreSQL's
    streamed as the server sends it): the same values, of the same types, in the same order, as
    the rows `fetchall` gives, for any stored call."""
    tenants = iter(range(10**6))
    # Pages of any size that way here (the server takes it from ARROW_MIN_ROWS, STREAM_MIN_ROWS).
    monkeypatch.setattr(duckdb_store, "ARROW_MIN_ROWS", 1)
    monkeypatch.setattr(postgres_store, "STREAM_MIN_ROWS", 1)
    monkeypatch.setattr(postgres_store, "STREAM_ROWS", 3)  # a page of 8 comes in three chunks

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        calls=st.lists(_STORED_CALL, min_size=0, max_size=8),
        order=st.sampled_from(["asc", "desc"]),
    )
    def run(calls: list[dict[str, Any]], order: str) -> None:
        tenant = f"t{next(tenants)}"
        storage.create_tenant(tenant, "us")
        made = [make_call(f"c{i}", 0, **call) for i, call in enumerate(calls)]
        report = import_lines(storage, tenant, made, workers=1, skip_invalid=True)
        query = parse_request(
            {
                "tenantId": tenant,
                "page": 1,
                "duration": "allhistory",
                "rows": 5000,
                "sortOrder": order,
            },
            0,
        )
        by_engine = storage.search(bound(tenant), query)
        # The same storage, its page fetched as rows (`fetchall`), as every other engine does.
        with pytest.MonkeyPatch.context() as rows_way:
            rows_way.setattr(storage, "_page_columns", partial(Storage._page_columns, storage))
            by_rows = storage.search(bound(tenant), query)
        assert by_engine.hits == by_rows.hits == report.inserted
        assert by_engine.page == by_rows.page
        for mine, theirs in zip(by_engine.rows, by_rows.rows, strict=True):
            assert list(map(type, mine)) == list(map(type, theirs))

    run()


def test_a_page_handed_over_a_part_at_a_time_is_the_whole_page(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given `each`, a search hands PostgreSQL's large pages over a part at a time, in order, as
    each chunk arrives, and any other page as the page. The parts joined are the page, and
    the answer rendered from parts (`item_parts`) is the answer rendered from the page, byte
    for byte, for any stored calls and any page of them: a first page, a later one, past the
    last, with no hits."""
    tenants = iter(range(10**6))
    monkeypatch.setattr(duckdb_store, "ARROW_MIN_ROWS", 1)
    monkeypatch.setattr(postgres_store, "STREAM_MIN_ROWS", 4)  # rows=3: PostgreSQL's one statement
    monkeypatch.setattr(postgres_store, "STREAM_ROWS", 3)
    streams = isinstance(storage, postgres_store.PostgresStorage) and postgres_store._CHUNKED

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        calls=st.lists(_STORED_CALL, max_size=11),
        rows=st.sampled_from([3, 4, 5000]),
        page=st.integers(min_value=1, max_value=4),
        timezone=st.sampled_from(["UTC", "America/New_York", "Asia/Kathmandu"]),
        caller=st.sampled_from(["", "a", "zz-nobody"]),
    )
    def run(calls: list[dict[str, Any]], rows: int, page: int, timezone: str, caller: str) -> None:
        tenant = f"t{next(tenants)}"
        storage.create_tenant(tenant, "us")
        made = [make_call(f"c{i}", 0, **call) for i, call in enumerate(calls)]
        import_lines(storage, tenant, made, workers=1, skip_invalid=True)
        body: dict[str, Any] = {"tenantId": tenant, "page": page, "duration": "allhistory"}
        if caller:
            body["callerName"] = [caller]
        query = parse_request({**body, "rows": rows, "timezone": timezone}, 0)
        whole = storage.search(bound(tenant), query)
        by_parts = storage.search(bound(tenant), query, lambda part: part)
        assert by_parts.hits == whole.hits
        if streams and len(whole.rows) >= 4:  # STREAM_MIN_ROWS: a page this large streams
            assert not by_parts.page
            assert [row for part in by_parts.parts for row in part.rows()] == whole.rows
            assert [len(part) for part in by_parts.parts][:-1] == [3] * (len(by_parts.parts) - 1)
        else:
            assert not by_parts.parts and by_parts.page == whole.page
        rendered = storage.search(bound(tenant), query, item_parts(tenant, timezone))
        expected = render_response(query, bound(tenant), whole)
        assert render_response(query, bound(tenant), rendered) == expected

    run()


_EDGES = st.sampled_from([0, 1, DAY_MS - 1, DAY_MS // 2])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    starts=st.lists(
        st.tuples(st.integers(0, 5), st.one_of(_EDGES, st.integers(0, DAY_MS - 1))),
        min_size=1,
        max_size=40,
    ),
    window=st.one_of(
        st.none(),
        st.tuples(
            st.tuples(st.integers(0, 6), st.one_of(_EDGES, st.integers(0, DAY_MS - 1))),
            st.tuples(st.integers(0, 6), st.one_of(_EDGES, st.integers(0, DAY_MS - 1))),
        ),
    ),
    descending=st.booleans(),
)
def test_the_calls_per_day_find_every_offsets_boundary_as_the_plain_plan_does(
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    starts: list[tuple[int, int]],
    window: tuple[tuple[int, int], tuple[int, int]] | None,
    descending: bool,
) -> None:
    """Any calls over six days, any window (whole days, cut days, one day), either order: at
    every offset the calls per day (PostgreSQL's kept counts, DuckDB's counted) give the plain
    plan's boundary and count before it."""
    day0 = START // DAY_MS * DAY_MS
    tenant = f"t{secrets.token_hex(4)}"
    storage.create_tenant(tenant, "us")
    calls = [make_call(f"c{i}", day0 + day * DAY_MS + ms) for i, (day, ms) in enumerate(starts)]
    import_lines(storage, tenant, calls)
    monkeypatch.setattr(duckdb_store, "DAY_WALK_MIN_OFFSET", 0)  # at every offset here
    fields: dict[str, Any] = {"sortOrder": "desc" if descending else "asc", "rows": 1}
    by_days = True
    if window is not None:
        low, high = sorted(day0 + day * DAY_MS + ms for day, ms in window)
        fields.update(duration=None, timeRange=f"{low}-{high}")
        # PostgreSQL leaves a window within two days' edges to the plain plan.
        whole_days = (high + 1) // DAY_MS + (-low // DAY_MS)
        by_days = isinstance(storage, duckdb_store.DuckDBStorage) or whole_days >= 2
    hits = storage.search(bound(tenant), request(**fields, tenantId=tenant, page=1)).hits
    for offset in range(1, hits):
        query = request(**fields, tenantId=tenant, page=offset + 1)
        mine, plain = _both_boundaries(storage, query, hits)
        assert (mine is not None) == by_days
        assert mine in (None, plain), (offset, hits)


def _both_boundaries(storage: Storage, query: Any, hits: int) -> tuple[Any, Any]:
    """The boundary and count before it of the query's offset: by the calls per day (None where
    the engine leaves it to the plain plan), and by the plain plan."""
    where = storage._where(bound(query.request.tenantId), query)
    ordering = Ordering.of(query, storage.dialect)

    def both(run: Run) -> tuple[Any, Any]:
        mine = storage._boundary_by_days(run, where, query, ordering, hits)
        return mine, storage._plain_boundary(run, where, query, ordering, hits)

    return storage._read(both)
