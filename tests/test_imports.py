"""Imports: all lines or none, every bad line named, re-import safe, callDate in a zone."""

from __future__ import annotations

import orjson
import pytest

from recent_calls.errors import ImportRejected, InvalidRequest, NotFound
from recent_calls.imports import import_lines
from recent_calls.storage.base import Storage
from tests.calls import make_call, stored

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
