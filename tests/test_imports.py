"""Imports: all lines or none, every bad line named, re-import safe, callDate in a zone."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from recent_calls.admin.remote import RemoteAdmin
from recent_calls.errors import ImportRejected, InvalidRequest, NotFound
from recent_calls.ingest import bulk
from recent_calls.ingest.bulk import import_calls, import_lines, ingest_calls
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import make_call, stored
from tests.pg import citus_mode, fresh_database, migrated_template
from tests.support import LiveServer, ServerFactory, alive, descendants, parent_of

START = 1700000000000


def lines(*calls: dict[str, object]) -> list[bytes]:
    return [orjson.dumps(call) for call in calls]


def test_a_file_with_bad_lines_is_rejected_whole_naming_each_line(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    source = [
        *lines(make_call("ok-1", START)),
        b"{not json",
        *lines(make_call("ok-2", START), {"callDate": "01/13/2022 07:42:31"}),
        *lines(make_call("bad-3", START, callDuration="-5")),
        b"[1, 2]",
    ]
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", source)
    named = [error.field for error in caught.value.errors]
    assert named == ["line 2", "line 4", "line 5", "line 6"]
    assert "callId" in caught.value.errors[1].message
    assert stored(storage, "acme") == {}


@pytest.mark.parametrize("field", sorted(make_call("x", START)))
def test_a_value_nested_as_deep_as_json_goes_in_any_field_is_a_named_line(
    storage: Storage, field: str
) -> None:
    # 1000 levels: the fast path's decoder recursed past Python's limit on a field it decodes
    # exactly (startTime) and the import raised RecursionError instead of naming the line.
    storage.create_tenant("acme", "us")
    deep = b"[" * 1000 + b"1" + b"]" * 1000
    line = orjson.dumps({**make_call("bad", START), field: "@@"}).replace(b'"@@"', deep)
    report = import_lines(storage, "acme", [*lines(make_call("ok", START)), line],
                          skip_invalid=True, workers=1)  # fmt: skip
    assert [error.field for error in report.errors] == ["line 2"]
    assert set(stored(storage, "acme")) == {"ok"}


def test_skip_invalid_stores_the_valid_lines_and_reports_the_rest(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    source = [*lines(make_call("ok-1", START)), b"", b"oops", *lines(make_call("ok-2", START))]
    report = import_lines(storage, "acme", source, skip_invalid=True)
    assert (report.lines, report.received, report.inserted, report.invalid) == (4, 2, 2, 1)
    assert [error.field for error in report.errors] == ["line 3"]
    assert set(stored(storage, "acme")) == {"ok-1", "ok-2"}


def test_reimporting_replaces_by_call_id(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    first = import_lines(storage, "acme", lines(make_call("a", START), make_call("b", START)))
    again = import_lines(
        storage, "acme", lines(make_call("a", START, callerName="New Name"), make_call("c", START))
    )
    assert (first.inserted, first.replaced) == (2, 0)
    assert (again.inserted, again.replaced) == (1, 1)
    calls = stored(storage, "acme")
    assert set(calls) == {"a", "b", "c"}
    assert calls["a"][2] == "New Name"


def test_the_last_of_a_call_id_repeated_in_one_file_wins(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    report = import_lines(
        storage,
        "acme",
        lines(make_call("a", START, callerName="first"), make_call("a", START, callerName="last")),
    )
    assert (report.received, report.inserted) == (2, 1)
    assert stored(storage, "acme")["a"][2] == "last"


def test_a_chunk_encoded_a_few_rows_at_a_time_stores_every_row_in_order(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "ENCODE_ROWS", 3)  # parts of 3 rows, the last one short
    storage.create_tenant("acme", "us")
    calls = [
        orjson.dumps(make_call(f"c{i % 7}", START + i, callerName=f"name {i}")) for i in range(20)
    ]
    calls[4] = b'{"callId": ""}'  # refused, between two parts
    calls[9] = b""  # skipped
    report = import_lines(storage, "acme", calls, workers=1, skip_invalid=True)
    assert (report.lines, report.received, report.invalid, report.inserted) == (20, 18, 1, 7)
    last = {f"c{i % 7}": f"name {i}" for i in range(20) if i not in (4, 9)}
    assert {call_id: row[2] for call_id, row in stored(storage, "acme").items()} == last


def reader_call(call_id: str, name: str, start: int = START) -> tuple[Any, ...]:
    """A telephony reader's typed call (READER_FIELDS order)."""
    return (call_id, start, 60000, 50000, 0, 0, 0, 10000, 0, 0, 0, ["sales"], ["ag1"], name,
            "5125556523", "1949", "Inbound", "Queued", "Agent", "", "5125556523")  # fmt: skip


def test_a_readers_calls_are_stored_in_order_across_batches_and_shapes(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typed calls are staged a batch at a time, calls in the import shape one at a time: a
    callId's last call wins whichever way each came, and whichever batch it fell in."""
    monkeypatch.setattr(bulk, "BATCH_ROWS", 3)
    storage.create_tenant("acme", "us")
    calls: list[Any] = [
        reader_call("a", "typed 1"),
        reader_call("b", "typed 1"),
        {**make_call("a", START), "callerName": "shaped"},
        {**make_call("c", START), "callerName": "shaped"},
        reader_call("c", "typed 2"),
        *(reader_call(f"x{i}", "filler") for i in range(4)),
        reader_call("b", "typed 2"),
    ]
    report = import_calls(storage, "acme", calls)
    assert (report.lines, report.received, report.inserted) == (10, 10, 7)
    found = stored(storage, "acme")
    assert {key: found[key][2] for key in "abc"} == {"a": "shaped", "b": "typed 2", "c": "typed 2"}


def test_a_long_list_of_calls_is_cut_into_batches_numbered_across_them(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list holding several batches' worth of calls (the Master.csv rows no queue_log call
    took come as one) is sent a batch at a time: a bad call in it is named by its place in the
    whole read, and the calls after the list keep their numbers."""
    monkeypatch.setattr(bulk, "BATCH_ROWS", 3)
    storage.create_tenant("acme", "us")
    long = [reader_call(f"c{i}", "ok") for i in range(1, 10)]  # 10 held: 3 batches and 1
    long[5] = reader_call("c6", "bad", start=-1)
    calls: list[Any] = [reader_call("c0", "ok"), long, reader_call("c10", "ok", start=-2)]
    with pytest.raises(ImportRejected) as rejected:
        import_calls(storage, "acme", calls, workers=0)
    assert [e.field for e in rejected.value.errors] == ["line 7", "line 11"]
    report = import_calls(storage, "acme", calls, skip_invalid=True, workers=0)
    assert (report.lines, report.inserted, report.invalid) == (11, 9, 2)
    assert sorted(stored(storage, "acme")) == sorted(f"c{i}" for i in range(10) if i != 6)


def test_a_readers_bad_call_in_a_batch_is_named_by_its_number(storage: Storage) -> None:
    """A batch holding a call the typed path declines goes call by call: the bad one is named
    by its place in the reader's output, and nothing is stored unless told to skip it."""
    storage.create_tenant("acme", "us")
    calls = [reader_call(f"c{i}", "ok") for i in range(5)]
    calls[3] = reader_call("c3", "bad", start=-1)
    with pytest.raises(ImportRejected) as rejected:
        import_calls(storage, "acme", calls)
    assert [e.field for e in rejected.value.errors] == ["line 4"]
    assert stored(storage, "acme") == {}
    report = import_calls(storage, "acme", calls, skip_invalid=True)
    assert (report.lines, report.inserted, report.invalid) == (5, 4, 1)
    assert sorted(stored(storage, "acme")) == ["c0", "c1", "c2", "c4"]


class WhereMade(bulk.CallBatch):
    """Calls made where the import checks them, named after that process's id and niceness."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.count = len(ids)

    def made(self) -> list[tuple[Any, ...]]:
        where = f"{os.getpid()} {os.nice(0)}"
        return [reader_call(call_id, where) for call_id in self.ids]


def test_a_readers_unmade_calls_are_made_in_workers_below_the_importer(storage: Storage) -> None:
    """Batches a reader hands over unmade (`CallBatch`) are made, checked and encoded in the
    import's worker processes, which run below the importer's priority; then stored in order."""
    storage.create_tenant("acme", "us")
    batches: list[Any] = [WhereMade([f"c{n}-{i}" for i in range(3)]) for n in range(4)]
    report = import_calls(storage, "acme", [*batches, [reader_call("c0-0", "last")]], workers=2)
    assert (report.lines, report.received, report.inserted) == (13, 13, 12)
    found = stored(storage, "acme")
    assert found["c0-0"][2] == "last"
    pids, niceness = zip(*(found[f"c{n}-1"][2].split() for n in range(4)), strict=True)
    assert os.getpid() not in {int(pid) for pid in pids}
    assert set(niceness) == {str(min(os.nice(0) + bulk.TYPED_NICENESS, 19))}


def test_an_imports_processes_start_with_what_they_run_already_imported() -> None:
    """The import's forkserver imports the readers and the engines once: a worker it starts has
    them before it runs anything (each imported them itself, 0.2-0.3 s of CPU). In a fresh
    interpreter: the forkserver is one per process, and preloads only what it is given before
    it starts."""
    script = (
        "import sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import forkserver as server\n"
        "from recent_calls.ingest.bulk import PRELOADED, forkserver\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(1, mp_context=forkserver()) as pool:\n"
        "        found = pool.submit(eval, 'sorted(__import__(\"sys\").modules)').result()\n"
        "        status = open(f'/proc/{server._forkserver._forkserver_pid}/status').read()\n"
        "    threads = [row.split()[1] for row in status.splitlines() if row[:8] == 'Threads:']\n"
        "    left = sorted(set(PRELOADED) - set(found))\n"
        "    print(left, 'recent_calls.cli.main' in found, threads)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    # Nothing left to import, nothing the command alone needs, and a forkserver that still
    # forks from its one thread (pyarrow's import starts one).
    assert done.stdout.split() == ["[]", "False", "['1']"], done.stderr


def test_call_date_is_read_in_the_import_timezone(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    call = make_call("a", 0)
    del call["startTime"]
    call["callDate"] = "01/13/2022 07:42:31"
    import_lines(storage, "acme", lines(call), timezone="America/Los_Angeles")
    assert stored(storage, "acme")["a"][1] == 1642088551000  # 15:42:31Z


def test_start_time_may_be_iso_8601_with_an_offset(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    import_lines(storage, "acme", lines(make_call("a", "2022-01-13T07:42:31-08:00")))
    assert stored(storage, "acme")["a"][1] == 1642088551000


def test_multi_valued_fields_may_be_arrays_or_delimited_strings(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    import_lines(
        storage,
        "acme",
        lines(make_call("a", START, queueId=["1", "2"]), make_call("b", START, queueId="1,2,")),
    )
    calls = stored(storage, "acme")
    assert calls["a"][3] == calls["b"][3] == ["1", "2"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callDuration", "abc"),
        ("muteDuration", -1),
        ("transferCount", "1.5"),
        ("postCallSurvey", "{not json"),
        ("voiceComment", "[]"),
        ("startTime", "yesterday"),
        ("startTime", True),
        ("callerName", "a\x00b"),
        ("agentId", ["ok", "\x00"]),
        ("callerName", ["a list"]),
        ("waitTime", float("inf")),
    ],
)
def test_each_invalid_value_is_named(storage: Storage, field: str, value: object) -> None:
    storage.create_tenant("acme", "us")
    line = orjson.dumps(make_call("a", START, **{field: value}), option=orjson.OPT_SERIALIZE_NUMPY)
    if value == float("inf"):
        line = line.replace(b"null", b"1e999")
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", [line])
    assert caught.value.errors[0].field == "line 1"
    assert field in caught.value.errors[0].message


def test_an_unknown_tenant_or_timezone_is_refused(storage: Storage) -> None:
    with pytest.raises(NotFound):
        import_lines(storage, "ghost", lines(make_call("a", START)))
    storage.create_tenant("acme", "us")
    with pytest.raises(InvalidRequest):
        import_lines(storage, "acme", lines(make_call("a", START)), timezone="Nowhere/Land")


def test_a_large_import_parsed_in_worker_processes_numbers_lines_across_chunks(
    storage: Storage,
) -> None:
    storage.create_tenant("acme", "us")
    count = 45_000  # three chunks: the first in-process, the rest in the worker pool
    calls = [orjson.dumps(make_call(f"c{i}", START + i)) for i in range(count)]
    calls[41_234] = b'{"callId": ""}'
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", calls, workers=2)
    assert [error.field for error in caught.value.errors] == ["line 41235"]
    assert storage.count_calls("acme") == 0
    calls[41_234] = orjson.dumps(make_call("fixed", START))
    report = import_lines(storage, "acme", calls, workers=2)
    assert (report.lines, report.received, report.inserted) == (count, count, count)
    assert storage.count_calls("acme") == count


@pytest.mark.parametrize("field", ["callDuration", "waitTime", "transferCount", "agentHoldCount"])
def test_true_or_false_in_a_number_field_is_refused_naming_it(storage: Storage, field: str) -> None:
    storage.create_tenant("acme", "us")
    for value in (True, False):
        with pytest.raises(ImportRejected) as caught:
            import_lines(storage, "acme", lines(make_call("a", START, **{field: value})))
        assert caught.value.errors[0].field == "line 1"
        assert field in caught.value.errors[0].message
        with pytest.raises(InvalidRequest) as pushed:
            ingest_calls(storage, "acme", [make_call("a", START, **{field: value})])
        assert pushed.value.errors[0].field == "calls[0]"
        assert field in pushed.value.errors[0].message
    assert stored(storage, "acme") == {}


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callDate", "01/13/2022 07:42:31".translate(ARABIC_INDIC)),
        ("callDate", "01/13/2022 0７:42:31"),  # one full-width digit
        ("callDate", "01/13/2022 07x42x31"),
        ("startTime", "1700000000000".translate(ARABIC_INDIC)),
        ("startTime", "2022-01-13T07:42:31-08:00".translate(ARABIC_INDIC)),
    ],
)
def test_times_must_be_written_in_ascii_digits(storage: Storage, field: str, value: str) -> None:
    storage.create_tenant("acme", "us")
    call = make_call("a", START, **{field: value})
    if field == "callDate":
        del call["startTime"]
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", lines(call))
    assert field in caught.value.errors[0].message
    with pytest.raises(InvalidRequest) as pushed:
        ingest_calls(storage, "acme", [call])
    assert field in pushed.value.errors[0].message


def test_calls_start_from_1970_to_9999_12_30(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    last = 253402214399999  # 9999-12-30T23:59:59.999Z: shown in UTC+14 it is still year 9999
    report = import_lines(storage, "acme", lines(make_call("first", 0), make_call("last", last)))
    assert report.inserted == 2
    late_date = make_call("late-date", 0, callDate="12/31/9999 00:00:00")
    del late_date["startTime"]
    refused = [
        make_call("past", last + 1),
        make_call("end", 253402300799999),
        make_call("before", -1),
        make_call("iso", "9999-12-31T00:00:00Z"),
        late_date,
    ]
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", lines(*refused))
    assert [error.field for error in caught.value.errors] == [f"line {n}" for n in range(1, 6)]
    assert all("out of range" in error.message for error in caught.value.errors)
    assert "callDate" in caught.value.errors[4].message
    with pytest.raises(InvalidRequest) as pushed:
        ingest_calls(storage, "acme", refused)
    assert [error.field for error in pushed.value.errors] == [f"calls[{n}]" for n in range(5)]
    assert set(stored(storage, "acme")) == {"first", "last"}


def test_text_that_cannot_be_stored_is_refused_naming_each_line(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    good = orjson.dumps(make_call("ok", START))
    deep = b"[" * 300 + b"]" * 300
    source = [
        good,
        good.replace(b'"Pat Caller"', b'"Pat \\ud800"'),  # a lone surrogate, escaped
        good.replace(b'"Pat Caller"', b'"Pat \xed\xa0\x80"'),  # ... and encoded as UTF-8
        good.replace(b'"Pat Caller"', b'"Pat \xff"'),  # not UTF-8 at all
        good.replace(b'"callId"', b'"extra":"\\udc00","callId"'),  # in a key import ignores
        good.replace(b'"callId"', b'"extra":"\xc3","callId"'),
        good.replace(b'"Pat Caller"', b'"Pat\\u0000"'),
        good.replace(b'"callId"', b'"voiceComment":{"a":' + deep + b'},"callId"'),
        good.replace(b'"callId"', b'"extra":' + deep + b',"callId"'),
        good.replace(b'"callId":"ok"', b'"callId":"ok\\u0000"'),
        good.replace(b'"Pat Caller"', b'"Pat\x00"'),
    ]
    with pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", source)
    named = [error.field for error in caught.value.errors]
    assert named == [f"line {n}" for n in range(2, 12)]
    assert "callerName" in caught.value.errors[5].message  # the NUL
    assert stored(storage, "acme") == {}


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callerName", "Pat \ud800"),
        ("agentId", ["ok", "\udfff"]),
        ("postCallSurvey", [{"answer": "\ud800"}]),
        ("voiceComment", {"text": "\udc00"}),
        ("voiceComment", nested(300)),
        ("postCallSurvey", [nested(300)]),
        ("startTime", 253402300799999),
        ("callDuration", 2**70),
        ("agentMuteCount", -(2**70)),
    ],
)
def test_a_push_refuses_what_could_not_be_stored_or_shown(
    storage: Storage, field: str, value: Any
) -> None:
    storage.create_tenant("acme", "us")
    calls = [make_call("ok", START), make_call("bad", START, **{field: value})]
    with pytest.raises(InvalidRequest) as caught:
        ingest_calls(storage, "acme", calls)
    assert [error.field for error in caught.value.errors] == ["calls[1]"]
    assert field in caught.value.errors[0].message
    assert stored(storage, "acme") == {}


@pytest.fixture
def postgres_storage() -> Iterator[Storage]:
    with fresh_database(template=migrated_template()) as url:
        storage = open_storage(url)
        try:
            yield storage
        finally:
            storage.close()


def _maintenance(storage: Storage) -> tuple[Any, ...]:
    # The catalog's own figures, which VACUUM and ANALYZE set before they return (the statistics
    # views are flushed by each backend later, so a test that reads them races).
    if citus_mode():
        # On Citus the coordinator's `calls` is an empty shell: the rows and their figures are
        # in the shards, on the workers (asked outside a READ ONLY transaction, which Citus may
        # refuse to fan out from).
        return storage._write(
            lambda run: run(
                "SELECT bool_or(split_part(result, ',', 1)::int > 0), "
                "sum(split_part(result, ',', 2)::real) FROM run_command_on_shards('calls', "
                "$$SELECT relallvisible || ',' || reltuples FROM pg_class "
                "WHERE oid = '%s'::regclass$$)",
                {},
            )
        )[0]
    return storage._read(
        lambda run: run(
            "SELECT relallvisible > 0, reltuples FROM pg_class WHERE oid = 'calls'::regclass",
            {},
        )
    )[0]


def test_a_bulk_import_leaves_postgresql_analyzed_and_vacuumed(postgres_storage: Storage) -> None:
    storage = postgres_storage
    storage.create_tenant("acme", "us")
    small = [orjson.dumps(make_call(f"s{i}", START + i)) for i in range(100)]
    import_lines(storage, "acme", small)
    visible, tuples = _maintenance(storage)
    assert not visible and tuples < 0  # a small import leaves it to later: never analysed
    calls = [orjson.dumps(make_call(f"c{i}", START + i)) for i in range(12_000)]
    import_lines(storage, "acme", calls, workers=1)
    visible, tuples = _maintenance(storage)
    assert visible and tuples == 12_100  # the visibility map is set, the statistics are fresh


def _heap_fetches(storage: Storage) -> int:
    # How often an exact count of the tenant visits the heap: 0 once a vacuum has cleaned up.
    def count(run: Any) -> list[Any]:
        if citus_mode():  # the settings below must reach the shard's worker too
            run("SET LOCAL citus.propagate_set_commands = 'local'", {})
        run("SET LOCAL enable_seqscan = off", {})
        run("SET LOCAL enable_bitmapscan = off", {})
        return run(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM calls WHERE tenant_id = 'acme'",
            {},
        )

    def fetches(node: Any) -> list[int]:
        # Wherever the plan has them: under the scan, or on Citus under the task's remote plan.
        if isinstance(node, list):
            return [n for child in node for n in fetches(child)]
        if not isinstance(node, dict):
            return []
        found = [int(node["Heap Fetches"])] if "Heap Fetches" in node else []
        return found + [n for child in node.values() for n in fetches(child)]

    counts = fetches(storage._read(count)[0][0])
    assert counts, "the plan has no index-only scan"
    return sum(counts)


def test_a_rejected_bulk_import_leaves_no_dead_rows_behind(postgres_storage: Storage) -> None:
    # Batches of 20,000 lines are stored while the next ones are read, one waiting at most: by
    # the time the bad line is read, the first has certainly been stored. The rollback leaves
    # its rows dead in the table and its indexes, which the import cleans up before it answers.
    storage = postgres_storage
    storage.create_tenant("acme", "us")
    import_lines(storage, "acme", [orjson.dumps(make_call(f"k{i}", START + i)) for i in range(100)])
    calls = [orjson.dumps(make_call(f"c{i}", START + i)) for i in range(60_000)]
    with pytest.raises(ImportRejected):
        import_lines(storage, "acme", [*calls, b'{"callId": ""}'], workers=1)
    assert storage.count_calls("acme") == 100
    assert _heap_fetches(storage) == 0


def test_workers_end_when_the_import_command_is_killed(duckdb_path: str, tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "recent_calls"]
    subprocess.run(
        [*cli, "tenant", "create", "acme", "--region", "us", "--database", duckdb_path],
        check=True,
        capture_output=True,
    )
    source = tmp_path / "calls.jsonl"
    with source.open("wb") as out:
        for i in range(300_000):
            out.write(orjson.dumps(make_call(f"c{i}", START + i)) + b"\n")
    command = [*cli, "import", "--tenant", "acme", "--database", duckdb_path, str(source)]
    importer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait for the pool: its forkserver and at least one worker (a grandchild).
        deadline = time.monotonic() + 60
        found: set[int] = set()
        while time.monotonic() < deadline and importer.poll() is None:
            found = descendants(importer.pid)
            if any(parent_of(pid) in found for pid in found):
                break
            time.sleep(0.05)
        assert any(parent_of(pid) in found for pid in found), "no worker process appeared"
        importer.send_signal(signal.SIGKILL)
        importer.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(pid) for pid in found):
            time.sleep(0.1)
        assert not [pid for pid in found if alive(pid)]
    finally:
        importer.kill()
        importer.wait()


def test_an_import_through_the_running_server_reports_the_real_line_count(
    make_server: ServerFactory,
) -> None:
    server = make_server(admin_token="import-admin")
    server.storage.create_tenant("acme", "us")
    admin = RemoteAdmin(server.url, "import-admin")
    try:
        source = b"\n".join([*lines(*(make_call(f"c{i}", START) for i in range(7))), b"{", b"[]"])
        with pytest.raises(ImportRejected) as caught:
            admin.import_file("acme", io.BytesIO(source), timezone="GMT", skip_invalid=False)
        assert caught.value.total == 9
        assert str(caught.value).startswith("2 of 9 lines are invalid")
        assert [error.field for error in caught.value.errors] == ["line 8", "line 9"]
        report = admin.import_file("acme", io.BytesIO(source), timezone="GMT", skip_invalid=True)
        assert (report.lines, report.inserted, report.invalid) == (9, 7, 2)
    finally:
        admin.http.close()


def test_a_push_through_the_server_refuses_nesting_too_deep_to_store(server: LiveServer) -> None:
    credential = server.tenant("acme")
    call = make_call("deep", START, voiceComment=nested(300))
    answer = server.http.post(
        "/customerexperience/v1/calls/us",
        json={"tenantId": "acme", "calls": [call]},
        headers={"8x8-apikey": credential.api_key, "token": credential.token},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "calls[0]"
    assert "voiceComment" in answer.json()["errors"][0]["message"]


def test_a_file_is_read_in_blocks_that_keep_line_numbers(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("recent_calls.ingest.bulk.BLOCK_BYTES", 4096)  # many blocks, many workers
    storage.create_tenant("acme", "us")
    calls = [orjson.dumps(make_call(f"c{i}", START + i)) for i in range(400)]
    calls[5] = b""  # a blank line is skipped, and still counted
    calls[6] = b"  "
    calls[333] = b'{"callId": "x", "startTime": 1, "callDuration": true}'
    source = tmp_path / "calls.jsonl"
    source.write_bytes(
        b"\r\n".join(calls[:100]) + b"\r\n" + b"\n".join(calls[100:])
    )  # no final newline
    with source.open("rb") as lines, pytest.raises(ImportRejected) as caught:
        import_lines(storage, "acme", lines, workers=2)
    assert [error.field for error in caught.value.errors] == ["line 334"]
    assert caught.value.total == 400
    with source.open("rb") as lines:
        report = import_lines(storage, "acme", lines, workers=2, skip_invalid=True)
    assert (report.lines, report.received, report.invalid) == (400, 397, 1)
    assert storage.count_calls("acme") == 397
    with source.open("r", encoding="utf-8") as text:  # a text file is read line by line
        again = import_lines(storage, "acme", text, skip_invalid=True)
    assert (again.lines, again.replaced, again.invalid) == (400, 397, 1)


def test_a_json_lines_file_with_a_byte_order_mark_imports(storage: Storage, tmp_path: Path) -> None:
    storage.create_tenant("acme", "us")
    calls = [make_call("bom-1", START), make_call("bom-2", START + 1000)]
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines(*calls)) + b"\n")
    with path.open("rb") as source:
        report = import_lines(storage, "acme", source)
    assert (report.lines, report.inserted, report.invalid) == (2, 2, 0)
    with path.open("r", encoding="utf-8") as text:  # a text file keeps its U+FEFF
        again = import_lines(storage, "acme", text)
    assert (again.replaced, again.invalid) == (2, 0)
    listed = [b"\xef\xbb\xbf" + lines(calls[0])[0]]
    assert import_lines(storage, "acme", listed).replaced == 1
    assert set(stored(storage, "acme")) == {"bom-1", "bom-2"}


def test_a_regular_file_read_from_its_start_tells_its_size_and_nothing_else_does(
    tmp_path: Path,
) -> None:
    """What an import may expect in all comes from a file's size; a pipe, a file already partly
    read, an object in memory and a list of lines tell nothing."""
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b'{"callId": "a"}\n' * 100)
    with path.open("rb") as source:
        assert bulk._file_size(source) == 1600
        source.read(10)
        assert bulk._file_size(source) == 0
    read, write = os.pipe()
    with os.fdopen(read, "rb") as pipe, os.fdopen(write, "wb"):
        assert bulk._file_size(pipe) == 0
    assert bulk._file_size(io.BytesIO(b"{}\n")) == 0
    assert bulk._file_size([b"{}"]) == 0
