"""Call records: the field rules of an imported call, the row it becomes, and its local time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recent_calls.admin.credentials import IssuedCredential
from recent_calls.api.render import LocalDates, render_row
from recent_calls.ingest.records import (
    MAX_START_MS,
    READER_FIELDS,
    ImportedCall,
    LocalTimeReader,
    fast_row,
    parse_call,
    reader_row,
    to_row,
    typed_columns,
    typed_row,
)
from recent_calls.query.windows import MAX_EPOCH_MS
from recent_calls.storage.columns import ROW_COLUMNS, CallRow
from tests.calls import make_call
from tests.endpoints import PUSH, auth
from tests.support import InProcessHTTP

GMT = LocalTimeReader(ZoneInfo("GMT"))
START = 1700000000000
ZONES = sorted(available_timezones())
COLUMN = {name: index for index, name in enumerate(ROW_COLUMNS)}


def row_of(call: dict[str, Any], reader: LocalTimeReader = GMT) -> tuple[Any, ...]:
    """The row of `call`, which must be valid, by both readings: the line and the object."""
    line_row, errors = parse_call(orjson.dumps(call), reader, "line 1")
    assert line_row is not None, errors
    assert parse_call(call, reader, "calls[0]") == (line_row, [])
    return line_row


def errors_of(call: dict[str, Any] | bytes) -> list[str]:
    """What is wrong with `call`, which must be invalid, as a line (and as an object)."""
    line = call if isinstance(call, bytes) else json.dumps(call).encode()
    row, errors = parse_call(line, GMT, "line 1")
    assert row is None and errors
    if isinstance(call, dict):
        assert parse_call(call, GMT, "calls[0]")[0] is None
    return [error.message for error in errors]


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


# -- the field rules -----------------------------------------------------------------------


def test_numbers_may_be_json_numbers_or_numeric_strings() -> None:
    as_text = row_of(make_call("a", START, callDuration="1500", waitTime="2.5", transferCount="3"))
    as_numbers = row_of(make_call("a", START, callDuration=1500, waitTime=2.5, transferCount=3))
    assert as_text == as_numbers
    assert as_text[COLUMN["call_duration"]] == 1500
    assert as_text[COLUMN["wait_time"]] == 2.5
    assert as_text[COLUMN["transfer_count"]] == 3


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("callDuration", True, "not a number"),
        ("waitTime", False, "not a number"),
        ("transferCount", True, "not a number"),
        ("agentHoldCount", True, "not a number"),
        ("callDuration", -1, "greater than or equal to 0"),
        ("callDuration", 10**16, "less than or equal to"),
        ("agentMuteCount", 1_000_001, "less than or equal to"),
        ("transferCount", 1.5, "whole number"),
        ("callDuration", "١٢", "number"),
        ("callDuration", "nan", "callDuration"),
        ("callerName", "x" * 1025, "at most 1024"),
        ("callerName", True, "valid string"),
        ("queueId", ["ok", "y" * 1025], "at most 1024"),
        ("callId", "   ", "at least 1"),
        ("callId", "c" * 257, "at most 256"),
    ],
)
def test_each_field_rule_names_its_field(field: str, value: Any, why: str) -> None:
    messages = errors_of(make_call("a", START, **{field: value}))
    assert any(field in message and why in message for message in messages), messages


def test_call_id_is_stripped_and_texts_are_kept_as_given() -> None:
    row = row_of(make_call(" a \u2003", START, callerName="  Zoë  ", callerNumber="ABC"))
    assert row[COLUMN["call_id"]] == "a"
    assert row[COLUMN["caller_name"]] == "  Zoë  "
    assert row[COLUMN["caller_name_key"]] == "  zoë  "
    assert row[COLUMN["caller_number_key"]] == "abc"


def test_unknown_keys_are_ignored_and_defaults_fill_what_is_absent() -> None:
    row = row_of({"callId": "a", "startTime": START, "somethingNew": {"x": [1]}})
    assert row[COLUMN["call_duration"]] == 0
    assert row[COLUMN["queue_ids"]] == []
    assert row[COLUMN["post_call_survey"]] == "[]"
    assert row[COLUMN["voice_comment"]] == "{}"


# -- multi-valued fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("7", ["7"]),
        (" 7 ", ["7"]),
        ("1,2,", ["1", "2"]),
        (" 1 , , 2 ", ["1", "2"]),
        (["1", " 2 ", "", "  "], ["1", "2"]),
    ],
)
def test_multi_valued_fields_split_on_commas_or_come_as_arrays(
    value: str | list[str], expected: list[str]
) -> None:
    row = row_of(make_call("a", START, queueId=value, agentId=value, agentGroup=value))
    assert row[COLUMN["queue_ids"]] == row[COLUMN["agent_ids"]] == expected
    assert row[COLUMN["agent_groups"]] == expected


def test_transaction_ids_split_on_blanks_and_are_stored_joined() -> None:
    assert row_of(make_call("a", START, transactionId=" 11  12 "))[COLUMN["transaction_id"]] == (
        "11 12"
    )
    assert row_of(make_call("a", START, transactionId=["11", "12"]))[COLUMN["transaction_id"]] == (
        "11 12"
    )


# -- JSON held in strings ------------------------------------------------------------------


def test_survey_and_comment_may_be_json_text_or_json_values() -> None:
    as_text = row_of(make_call("a", START, postCallSurvey='[{"q": 1}]', voiceComment='{"t": "x"}'))
    as_values = row_of(make_call("a", START, postCallSurvey=[{"q": 1}], voiceComment={"t": "x"}))
    assert orjson.loads(as_text[COLUMN["post_call_survey"]]) == [{"q": 1}]
    assert orjson.loads(as_values[COLUMN["post_call_survey"]]) == [{"q": 1}]
    assert orjson.loads(as_values[COLUMN["voice_comment"]]) == {"t": "x"}
    blank = row_of(make_call("a", START, postCallSurvey="  ", voiceComment=""))
    assert (blank[COLUMN["post_call_survey"]], blank[COLUMN["voice_comment"]]) == ("[]", "{}")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("postCallSurvey", "{not json", "is not JSON text"),
        ("postCallSurvey", '{"a": 1}', "not a list"),
        ("voiceComment", "[]", "not a dict"),
        ("voiceComment", '{"a": "\\ud800"}', "is not JSON text"),
    ],
)
def test_json_text_must_hold_the_right_kind(field: str, value: str, why: str) -> None:
    messages = errors_of(make_call("a", START, **{field: value}))
    assert any(field in message and why in message for message in messages), messages


# -- local time ----------------------------------------------------------------------------


def test_call_date_is_read_in_the_zone_of_the_import() -> None:
    reader = LocalTimeReader(ZoneInfo("America/Los_Angeles"))
    assert reader.epoch_ms("01/13/2022 07:42:31") == ms(2022, 1, 13, 15, 42, 31)
    assert reader.epoch_ms("07/13/2022 07:42:31") == ms(2022, 7, 13, 14, 42, 31)


def test_a_local_time_that_dst_skips_or_repeats_reads_as_its_first_reading() -> None:
    reader = LocalTimeReader(ZoneInfo("America/New_York"))
    # 02:30 does not exist on 2024-03-10: read with the offset before the change (EST).
    assert reader.epoch_ms("03/10/2024 02:30:00") == ms(2024, 3, 10, 7, 30)
    assert reader.epoch_ms("03/10/2024 03:30:00") == ms(2024, 3, 10, 7, 30)  # EDT
    # 01:30 happens twice on 2024-11-03: the first (EDT) is taken.
    assert reader.epoch_ms("11/03/2024 01:30:00") == ms(2024, 11, 3, 5, 30)
    assert reader.epoch_ms("11/03/2024 02:30:00") == ms(2024, 11, 3, 7, 30)  # EST


def test_the_offset_cache_keeps_seconds_apart() -> None:
    reader = LocalTimeReader(ZoneInfo("Europe/Paris"))
    first = reader.epoch_ms("06/01/2023 12:00:01")
    assert reader.epoch_ms("06/01/2023 12:00:59") - first == 58_000


@pytest.mark.parametrize(
    "text",
    [
        "2022-01-13 07:42:31",
        "1/13/2022 07:42:31",
        "13/13/2022 07:42:31",
        "02/30/2022 07:42:31",
        "01/13/2022 24:00:00",
        "01/13/2022 07x42x31",
        "01/13/2022 ٠٧:42:31",
        "+1/13/2022 07:42:31",
        "01/13/2022 07:42:3١",
        "01/01/0001 00:00:00",
    ],
)
def test_a_malformed_local_time_is_refused(text: str) -> None:
    call = make_call("a", 0, callDate=text)
    del call["startTime"]
    messages = errors_of(call)
    assert any("callDate" in message for message in messages), messages


# -- the range of times --------------------------------------------------------------------


def test_a_start_is_kept_from_1970_to_9999_12_30() -> None:
    assert row_of(make_call("a", 0))[COLUMN["start_ms"]] == 0
    assert row_of(make_call("a", MAX_START_MS))[COLUMN["start_ms"]] == MAX_START_MS
    assert ms(9999, 12, 31) - 1 == MAX_START_MS
    for start in (-1, MAX_START_MS + 1, 253402300799999, 2**63, "9999-12-31T00:00:00+00:00"):
        assert any(
            "out of range" in m or "startTime" in m for m in errors_of(make_call("a", start))
        )


def test_the_latest_local_time_accepted_depends_on_the_zone() -> None:
    call = make_call("a", 0, callDate="12/30/9999 23:59:59")
    del call["startTime"]
    assert row_of(call)[COLUMN["start_ms"]] == ms(9999, 12, 30, 23, 59, 59)
    west = LocalTimeReader(ZoneInfo("America/New_York"))  # 23:59 there is 04:59Z the next day
    row, errors = parse_call(orjson.dumps(call), west, "line 1")
    assert row is None and "callDate is out of range" in errors[0].message


def test_start_time_must_be_a_whole_number_or_text_not_true() -> None:
    for value in (True, 1.7e12 + 0.5):
        assert any("startTime" in message for message in errors_of(make_call("a", value)))


# -- text that cannot be stored ------------------------------------------------------------


def test_lone_surrogates_are_refused_as_lines_and_as_objects() -> None:
    line = orjson.dumps(make_call("a", START)).replace(b"Pat Caller", b"Pat \\udfff")
    assert "is not valid JSON" in errors_of(line)[0]
    row, errors = parse_call(make_call("a", START, callerName="\udfff"), GMT, "calls[0]")
    assert row is None and "callerName" in errors[0].message


def test_invalid_utf8_is_refused_even_in_keys_that_are_ignored() -> None:
    line = orjson.dumps(make_call("a", START)).replace(b'"callId"', b'"x":"\xe2\x82","callId"')
    assert errors_of(line)


# -- properties ----------------------------------------------------------------------------

EVERYTHING = st.characters(blacklist_categories=())  # the whole of Unicode, surrogates too
texts = st.text(EVERYTHING, max_size=12) | st.sampled_from(["", " ", "a,b", "\x00", "x" * 1025])
numeric_texts = st.from_regex(
    r"[-+ ]?[0-9]{0,20}(\.[0-9]{0,6})?([eE][-+]?[0-9]{1,3})? ?", fullmatch=True
)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | numeric_texts
    | st.sampled_from(["١٢", "1_000", "nan", "inf", "-0", "0x1", "", " 12 "])
)
EDGES = [0, -1, MAX_START_MS, MAX_START_MS + 1, 253402300799999, 2**63 - 1, 2**64]
starts = (
    st.integers(min_value=-(2**65), max_value=2**65)
    | st.sampled_from(EDGES)
    | st.integers(min_value=MAX_START_MS - 86_400_000, max_value=MAX_START_MS + 86_400_000)
    | numeric_texts
    | st.sampled_from(["9999-12-30T23:59:59-12:00", "1970-01-01T00:00:00+14:00", "x"])
    | st.none()
)
call_dates = (
    st.builds(
        "{:02d}/{:02d}/{:04d} {:02d}:{:02d}:{:02d}".format,
        st.integers(0, 13),
        st.integers(0, 32),
        st.sampled_from([1, 1969, 1970, 2024, 9999]) | st.integers(0, 9999),
        st.integers(0, 24),
        st.integers(0, 60),
        st.integers(0, 60),
    )
    | texts
)
values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "callId": texts,
    "startTime": starts,
    "callDate": call_dates,
    "callDuration": numbers,
    "waitTime": numbers,
    "transferCount": numbers,
    "agentHoldCount": numbers,
    "sourceVersion": numbers | st.none(),
    "queueId": texts | st.lists(texts, max_size=3),
    "transactionId": texts | values,
    "callerName": texts | numbers,
    "postCallSurvey": texts | values,
    "voiceComment": texts | values,
    "unknownKey": values,
}


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    """A call of the usual shape, with some of its fields replaced by anything at all."""
    call = make_call("c-1", START)
    for name in draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=4)):
        call[name] = draw(FIELD_VALUES[name])
    if draw(st.booleans()):
        call.pop("startTime", None)
        call.setdefault("callDate", draw(call_dates))
    return call


def as_line(call: dict[str, Any], ascii_only: bool) -> bytes | None:
    """`call` as JSON text: escaped ASCII, or raw UTF-8 (lone surrogates as their bytes)."""
    try:
        text = json.dumps(call, ensure_ascii=ascii_only, allow_nan=True)
    except (ValueError, RecursionError):
        return None
    return text.encode("utf-8", "surrogatepass")


def slow_row(line: bytes) -> tuple[Any, ...] | None:
    try:
        call = ImportedCall.model_validate_json(line)
        return to_row(call, GMT)
    except ValueError:  # pydantic's ValidationError is a ValueError too
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.booleans())
def test_the_fast_reading_accepts_only_what_imported_call_accepts_and_agrees(
    call: dict[str, Any], ascii_only: bool
) -> None:
    line = as_line(call, ascii_only)
    if line is None:
        return
    fast = fast_row(line, GMT)
    if fast is not None:
        assert fast == slow_row(line)
        assert [type(value) for value in fast] == [type(value) for value in slow_row(line) or ()]
    row, errors = parse_call(line, GMT, "line 1")
    assert (row is None) == bool(errors)
    assert row == slow_row(line)


def selected(row: tuple[Any, ...]) -> CallRow:
    """A stored row as the page query selects it (storage/columns.py PAGE_SELECT)."""
    lists = tuple(
        ",".join(row[COLUMN[name]]) for name in ("queue_ids", "agent_ids", "agent_groups")
    )
    first = COLUMN["transaction_id"]
    return CallRow._make(
        row[: COLUMN["agent_hold_count"]]
        + lists
        + row[first : COLUMN["caller_name_key"]]
        + row[COLUMN["dialed_number"] : COLUMN["source_version"]]  # import-only: not selected
    )


def assert_renders_everywhere(row: tuple[Any, ...]) -> None:
    for text in row:
        if isinstance(text, str):
            assert "\x00" not in text
            text.encode()  # storable: no lone surrogate
    for name in ZONES:
        item = render_row(selected(row), "acme", LocalDates(ZoneInfo(name)))
        orjson.dumps(item)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.booleans(), st.sampled_from(["GMT", "Pacific/Kiritimati", "Etc/GMT+12"]))
@example(make_call("last", MAX_START_MS), True, "GMT")
@example(make_call("first", 0), True, "GMT")
@example({"callId": "k", "callDate": "12/31/9999 13:59:59"}, True, "Pacific/Kiritimati")
@example({"callId": "w", "callDate": "01/01/1970 00:00:00"}, True, "Etc/GMT+12")
def test_any_call_import_accepts_renders_in_every_timezone(
    call: dict[str, Any], ascii_only: bool, zone_name: str
) -> None:
    reader = LocalTimeReader(ZoneInfo(zone_name))
    line = as_line(call, ascii_only)
    for source in ([] if line is None else [line]) + [call]:
        row, errors = parse_call(source, reader, "line 1")
        if row is not None:
            assert_renders_everywhere(row)
        else:
            assert errors and all(error.field == "line 1" for error in errors)


@pytest.mark.parametrize("start", [MAX_START_MS + 1, MAX_EPOCH_MS])
def test_a_start_past_what_renders_everywhere_is_refused_on_the_way_in(
    http: InProcessHTTP, acme: IssuedCredential, start: int
) -> None:
    pushed = {"tenantId": "acme", "calls": [make_call("edge", start)]}
    answer = http.post(PUSH, json=pushed, headers=auth(acme))
    assert answer.status_code == 400
    assert "startTime" in answer.text


# -- the vendor's call ids and the import's zone -----------------------------------------------

VENDOR_ID = "int-17e541ad2d9-0a1b2c3d-4e5f"  # started at 2022-01-13T15:42:31.129Z


def vendor_line(call_date: str, **fields: Any) -> dict[str, Any]:
    call = make_call(VENDOR_ID, 0, callDate=call_date)
    del call["startTime"]
    return {**call, **fields}


def test_a_calldate_read_in_the_zone_it_was_written_in_agrees_with_the_vendor_id() -> None:
    pacific = LocalTimeReader(ZoneInfo("America/Los_Angeles"))
    row = row_of(vendor_line("01/13/2022 07:42:31"), pacific)
    assert row[COLUMN["start_ms"]] == ms(2022, 1, 13, 15, 42, 31)
    assert row_of(vendor_line("01/13/2022 15:42:31"))[COLUMN["start_ms"]] == ms(
        2022, 1, 13, 15, 42, 31
    )


@pytest.mark.parametrize(
    ("call_date", "fits"),
    [
        ("01/13/2022 07:42:31", "UTC-08:00; import with the time zone the dates were written in "
         "(an IANA zone at UTC-08:00, e.g. Etc/GMT+8)"),
        ("01/13/2022 21:27:31", "UTC+05:45; import with the time zone the dates were written in "
         "(an IANA zone at UTC+05:45)"),
    ],
)  # fmt: skip
def test_a_calldate_in_another_zone_than_the_imports_is_refused_naming_the_one_that_fits(
    call_date: str, fits: str
) -> None:
    expected = (
        f"callDate '{call_date}' read in GMT is {call_date[6:10]}-01-13T"
        f"{call_date[11:19]}Z, but callId '{VENDOR_ID}' says the call started at "
        f"2022-01-13T15:42:31Z: the dates fit {fits}"
    )
    assert errors_of(vendor_line(call_date)) == [expected]


@pytest.mark.parametrize("first", [True, False])
def test_a_calldate_in_the_hour_dst_repeats_takes_the_reading_the_vendor_id_names(
    first: bool,
) -> None:
    """01:20:23 happened twice in New York on 2025-11-02 (EDT, then EST): a callDate alone
    cannot say which; the vendor's call id can, and the import takes that reading instead of
    refusing the line as written in another zone."""
    start = ms(2025, 11, 2, 5, 20, 23) if first else ms(2025, 11, 2, 6, 20, 23)
    call_id = f"int-{start:011x}-0a1b2c3d-4e5f"
    line = {**vendor_line("11/02/2025 01:20:23"), "callId": call_id}
    eastern = LocalTimeReader(ZoneInfo("America/New_York"))
    assert row_of(line, eastern)[COLUMN["start_ms"]] == start  # as a line and as an object


def test_a_repeated_hour_does_not_excuse_a_calldate_in_another_zone() -> None:
    start = ms(2025, 11, 2, 8, 20, 23)  # 01:20:23 in Los Angeles (PDT)
    line = {**vendor_line("11/02/2025 01:20:23"), "callId": f"int-{start:011x}-0a1b2c3d-4e5f"}
    row, [error] = parse_call(
        orjson.dumps(line), LocalTimeReader(ZoneInfo("America/New_York")), "line 1"
    )
    assert row is None and "the dates fit UTC-07:00" in error.message


def test_a_calldate_in_the_hour_dst_skips_is_not_read_the_other_way_round() -> None:
    """02:30 never happened in New York on 2025-03-09: an id naming 06:30Z (01:30 EST) does
    not make the import read it as EDT."""
    start = ms(2025, 3, 9, 6, 30, 0)
    line = {**vendor_line("03/09/2025 02:30:00"), "callId": f"int-{start:011x}-0a1b2c3d-4e5f"}
    row, [error] = parse_call(
        orjson.dumps(line), LocalTimeReader(ZoneInfo("America/New_York")), "line 1"
    )
    assert row is None and "says the call started at 2025-03-09T06:30:00Z" in error.message


def test_the_vendor_id_is_not_consulted_when_the_start_is_given_or_the_id_is_another_kind() -> None:
    given = vendor_line("01/13/2022 07:42:31", startTime=ms(2022, 1, 13, 7, 42, 31))
    assert row_of(given)[COLUMN["start_ms"]] == ms(2022, 1, 13, 7, 42, 31)
    other = {**vendor_line("01/13/2022 07:42:31"), "callId": "call-17e541ad2d9x"}
    assert row_of(other)[COLUMN["start_ms"]] == ms(2022, 1, 13, 7, 42, 31)


# A telephony reader's typed calls: what readers make, then a field or two set at or past a rule.
_reader_text = st.one_of(
    st.sampled_from(["", "843", " 5125556523 ", "MOORE JOSEPH", "Inbound", "a,b", "Robert Çelik"]),
    st.text(max_size=8),
)
_reader_multi = st.one_of(st.lists(_reader_text, max_size=3), _reader_text)
_EDGE_TEXTS = ["x" * 1024, "x" * 1025, "é" * 1024, "é" * 1025, "a\x00b", "\udcff", " ", None, 5]
_EDGES: list[list[Any]] = [
    ["", " pbx1:1", "pbx1:1 ", "x" * 256, "x" * 257, "é" * 256, "pbx\x001", "pbx:\udcff", 7],
    [-1, 0, MAX_START_MS, MAX_START_MS + 1, True, 2.0, None],
    *[[-1, 10**15, 10**15 + 1, True, 1.0, None]] * 7,
    *[[-1, 10**6, 10**6 + 1, True, 1.0]] * 2,
    *[[[1], ["x" * 1024], ["x" * 1025], ["a\x00"], [" ", ""], *_EDGE_TEXTS]] * 2,
    *[_EDGE_TEXTS] * 8,
]


@st.composite
def reader_calls(draw: Any, *, edges: int = 2) -> tuple[Any, ...]:
    """A tuple in READER_FIELDS order, as `read_asterisk(typed=True)` yields."""
    call = [
        draw(st.one_of(st.from_regex(r"pbx1:[0-9]{10}\.[0-9]{1,3}", fullmatch=True), _reader_text)),
        draw(st.integers(0, 2 * 10**12)),
        *(draw(st.integers(0, 10**9)) for _ in range(7)),
        draw(st.integers(0, 10**6)),
        draw(st.integers(0, 10**6)),
        draw(_reader_multi),
        draw(_reader_multi),
        *(draw(_reader_text) for _ in range(8)),
    ]
    for index in draw(st.lists(st.integers(0, len(call) - 1), max_size=edges)):
        call[index] = draw(st.sampled_from(_EDGES[index]))
    return tuple(call)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reader_calls())
@example(
    (
        *("pbx1:1.0", 1763078411000, 855000, 800000, 18000, 0, 0, 11000, 0, 0, 0, ["843"]),
        *(["ag1"], "MOORE JOSEPH", "5125556523", "1949", "Inbound", "Queued", "Agent", ""),
        "5125556523",
    )
)
@example(("pbx1:1.0", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", "", "", "", "", "", "", "", ""))
def test_typed_row_is_the_json_paths_row(call: tuple[Any, ...]) -> None:
    """A reader's typed call is stored as the JSON import stores the same call: `typed_row`
    makes the very row (values and their types), or declines and the JSON path decides."""
    as_dict = dict(zip(READER_FIELDS, call, strict=True))
    try:
        line = orjson.dumps(as_dict)
    except orjson.JSONEncodeError:  # a lone surrogate: no line to compare with
        assert typed_row(call) is None
        return
    expected, errors = parse_call(line, GMT, "line 7")
    made = typed_row(call)
    if made is not None:
        assert expected is not None, errors
        assert [(type(v), v) for v in made] == [(type(v), v) for v in expected]
    row, found = reader_row(call, GMT, "line 7")
    assert row == expected and found == errors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reader_calls(edges=0), max_size=5), reader_calls(), st.integers(0, 5))
@example([], ("pbx1:1.0", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", "", "", "", "", "", "", "", ""), 0)
def test_typed_columns_are_the_typed_rows_of_the_batch(
    calls: list[tuple[Any, ...]], edged: tuple[Any, ...], at: int
) -> None:
    """A batch of a reader's calls is made into the very rows `typed_row` makes of each call
    (values and their types), as columns; or none is, when `typed_row` declines any of them
    (here, most often, the one call of the batch with a value at or past a rule)."""
    calls = [*calls[:at], edged, *calls[at:]]
    rows = [typed_row(call) for call in calls]
    columns = typed_columns(calls)
    if any(row is None for row in rows):
        assert columns is None
        return
    assert columns is not None
    made = list(zip(*columns, strict=True))
    assert [[(type(v), v) for v in row] for row in made] == [
        [(type(v), v) for v in row] for row in rows if row is not None
    ]


_BASE_CALL = (
    *("pbx1:1.0", 1763078411000, 855000, 800000, 18000, 0, 0, 11000, 0, 0, 0, ["843"]),
    *(["ag1"], "MOORE JOSEPH", "5125556523", "1949", "Inbound", "Queued", "Agent", ""),
    "5125556523",
)


@pytest.mark.parametrize(
    ("index", "value"),
    [(index, value) for index, values in enumerate(_EDGES) for value in values],
)
def test_typed_columns_keep_each_rule_of_typed_row(index: int, value: Any) -> None:
    """Every field set at and past each of its rules, in a batch beside a plain call: the
    batch's rows are made exactly when `typed_row` makes the edged call's."""
    edged = list(_BASE_CALL)
    edged[index] = value
    calls = [_BASE_CALL, tuple(edged)]
    columns = typed_columns(calls)
    rows = [typed_row(call) for call in calls]
    if rows[1] is None:
        assert columns is None
    else:
        assert columns is not None
        assert list(zip(*columns, strict=True)) == rows


def test_typed_columns_decline_a_batch_of_calls_of_other_lengths() -> None:
    call = ("pbx1:1.0", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", "", "", "", "", "", "", "", "")
    assert typed_columns([call]) is not None
    assert typed_columns([call, call[:-1]]) is None
    assert typed_columns([call[:-1]]) is None
    assert typed_columns([]) is None
