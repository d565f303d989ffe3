"""The Asterisk reader: every queue_log event form of every version, Master.csv layouts, and
invariants over random event sequences."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.ingest import asterisk
from recent_calls.ingest.asterisk import CdrIndex, QueueLogReader, block_feeds, read_asterisk
from recent_calls.ingest.records import LocalTimeReader, parse_call
from recent_calls.ingest.sources import SourceError, SourceReport, file_blocks, file_lines

T = 1_700_000_000  # 2023-11-14T22:13:20Z
ID = f"{T}.17"


def q(offset: int, event: str, *data: str, queue: str = "sales", agent: str = "NONE") -> str:
    """One queue_log line of the call ID, `offset` seconds after T."""
    return "|".join([str(T + offset), ID, queue, agent, event, *data])


def numbered(lines: list[str]) -> list[tuple[int, str]]:
    return list(enumerate(lines, start=1))


def read(
    lines: list[str], cdr: list[str] | None = None, timezone: str = "UTC"
) -> tuple[list[dict[str, Any]], SourceReport]:
    report = SourceReport()
    calls = list(
        read_asterisk(
            numbered(lines),
            server="pbx1",
            cdr=numbered(cdr) if cdr is not None else None,
            timezone=timezone,
            report=report,
        )
    )
    clock = LocalTimeReader(ZoneInfo("UTC"))
    for call in calls:
        row, errors = parse_call(call, clock, "call")
        assert row is not None, errors
    return calls, report


def one(lines: list[str], **fields: Any) -> dict[str, Any]:
    calls, report = read(lines)
    assert report.errors == []
    assert len(calls) == 1
    call = calls[0]
    assert {name: call[name] for name in fields} == fields
    return call


# Each version's forms, from INGEST.md's table: (lines, fields of the one call they make).
FORMS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "1.2 ENTERQUEUE url,callerid; CONNECT holdtime; COMPLETECALLER hold,calltime": (
        [
            q(0, "ENTERQUEUE", "", "5551234"),
            q(20, "CONNECT", "20", agent="SIP/101"),
            q(80, "COMPLETECALLER", "20", "60"),
        ],
        {
            "callerNumber": "5551234",
            "waitTime": 20_000,
            "agentCallHandlingDuration": 60_000,
            "callDuration": 80_000,
            "agentId": ["SIP/101"],
            "hungupBy": "Caller",
        },
    ),
    "1.4 EXITWITHTIMEOUT position only: the wait from the times": (
        [q(0, "ENTERQUEUE", "", "5551234"), q(45, "EXITWITHTIMEOUT", "3")],
        {"waitTime": 45_000, "abandonTime": 0, "hungupBy": "System", "callDuration": 45_000},
    ),
    "1.4 ABANDON position only": (
        [q(0, "ENTERQUEUE", "", "5551234"), q(12, "ABANDON", "2")],
        {"waitTime": 12_000, "abandonTime": 12_000, "hungupBy": "Caller"},
    ),
    "1.4 EXITWITHKEY key,position": (
        [q(0, "ENTERQUEUE", "", "5551234"), q(9, "EXITWITHKEY", "5", "1")],
        {"waitTime": 9_000, "abandonTime": 0, "hungupBy": "Caller"},
    ),
    "1.4 TRANSFER extension,context": (
        [
            q(0, "ENTERQUEUE", "", "5551234"),
            q(5, "CONNECT", "5", agent="SIP/101"),
            q(50, "TRANSFER", "200", "from-internal"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 0, "destinationNumber": ""},
    ),
    "1.6 CONNECT holdtime,uniqueid; TRANSFER + holdtime,calltime": (
        [
            q(0, "ENTERQUEUE", "", "5551234"),
            q(5, "CONNECT", "5", f"{T}.18", agent="SIP/101"),
            q(50, "TRANSFER", "200", "from-internal", "5", "45"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 45_000, "waitTime": 5_000},
    ),
    "1.8 COMPLETEAGENT hold,calltime,position; ABANDON position,orig,wait": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(7, "CONNECT", "7", f"{T}.18", agent="PJSIP/102"),
            q(37, "COMPLETEAGENT", "7", "30", "1"),
        ],
        {"hungupBy": "Agent", "agentCallHandlingDuration": 30_000, "callDuration": 37_000},
    ),
    "11 ABANDON position,original position,waittime": (
        [q(0, "ENTERQUEUE", "", "5551234", "1"), q(30, "ABANDON", "1", "1", "28")],
        {"waitTime": 28_000, "abandonTime": 28_000, "hungupBy": "Caller"},
    ),
    "11 EXITEMPTY position,original position,waittime": (
        [q(0, "ENTERQUEUE", "", "5551234", "1"), q(3, "EXITEMPTY", "1", "1", "3")],
        {"waitTime": 3_000, "hungupBy": "System"},
    ),
    "11 EXITWITHKEY key,position,original position,waittime": (
        [q(0, "ENTERQUEUE", "", "5551234", "1"), q(15, "EXITWITHKEY", "0", "1", "1", "14")],
        {"waitTime": 14_000, "abandonTime": 0, "hungupBy": "Caller"},
    ),
    "11 TRANSFER extension,context,holdtime,calltime,position": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(4, "CONNECT", "4", f"{T}.18", "2", agent="SIP/101"),
            q(64, "TRANSFER", "300", "from-internal", "4", "60", "1"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 60_000, "hungupBy": ""},
    ),
    "12 CONNECT holdtime,uniqueid,ringtime; BLINDTRANSFER": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(6, "CONNECT", "6", f"{T}.18", "2", agent="PJSIP/101"),
            q(46, "BLINDTRANSFER", "4000", "from-internal", "6", "40", "1"),
        ],
        {
            "transferCount": 1,
            "destinationNumber": "4000",
            "agentCallHandlingDuration": 40_000,
            "waitTime": 6_000,
        },
    ),
    "12 ATTENDEDTRANSFER BRIDGE": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(6, "CONNECT", "6", f"{T}.18", "2", agent="PJSIP/101"),
            q(36, "ATTENDEDTRANSFER", "BRIDGE", "b1d9e0f2", "6", "30", "1"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 30_000, "destinationNumber": ""},
    ),
    "12 ATTENDEDTRANSFER APP": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(6, "CONNECT", "6", f"{T}.18", "2", agent="PJSIP/101"),
            q(26, "ATTENDEDTRANSFER", "APP", "VoiceMail", "6", "20", "1"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 20_000},
    ),
    "12 ATTENDEDTRANSFER LINK": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(6, "CONNECT", "6", f"{T}.18", "2", agent="PJSIP/101"),
            q(31, "ATTENDEDTRANSFER", "LINK", "PJSIP/101-01", "PJSIP/300-02", "6", "25", "1"),
        ],
        {"transferCount": 1, "agentCallHandlingDuration": 25_000, "waitTime": 6_000},
    ),
    "13 WITHDRAW position,original position,waittime,info": (
        [q(0, "ENTERQUEUE", "", "5551234", "1"), q(20, "WITHDRAW", "1", "1", "19", "moved")],
        {"waitTime": 19_000, "abandonTime": 0, "hungupBy": "Caller"},
    ),
    "20.14 ENTERQUEUE with the caller id name": (
        [
            q(0, "ENTERQUEUE", "", "5551234", "1", "Ada Lovelace"),
            q(3, "RINGNOANSWER", "15000", agent="PJSIP/101"),
            q(4, "RINGCANCELED", "1000", agent="PJSIP/102"),
            q(5, "CONNECT", "5", f"{T}.18", "1", agent="PJSIP/103"),
            q(65, "COMPLETEAGENT", "5", "60", "1"),
        ],
        {"callerName": "Ada Lovelace", "agentId": ["PJSIP/103"], "waitTime": 5_000},
    ),
    "CALLERONHOLD/CALLEROFFHOLD pairs and a DID": (
        [
            f"{T - 10}|{ID}|NONE|NONE|DID|18005550100",
            q(0, "ENTERQUEUE", "", "5551234", "1"),
            q(5, "CONNECT", "5", f"{T}.18", "1", agent="PJSIP/103"),
            q(10, "CALLERONHOLD", agent="PJSIP/103"),
            q(40, "CALLEROFFHOLD", agent="PJSIP/103"),
            q(50, "CALLERONHOLD", agent="PJSIP/103"),
            q(60, "CALLEROFFHOLD", agent="PJSIP/103"),
            q(65, "COMPLETECALLER", "5", "60", "1"),
        ],
        {
            "holdDuration": 40_000,
            "maximumHoldDuration": 30_000,
            "agentHoldCount": 2,
            "dialedNumber": "18005550100",
            "startTime": (T - 10) * 1000,
        },
    ),
}


@pytest.mark.parametrize("name", list(FORMS))
def test_every_event_form(name: str) -> None:
    lines, fields = FORMS[name]
    call = one(lines, **fields)
    assert call["callId"] == f"pbx1:{ID}"
    assert call["callType"] == "Inbound"
    assert call["callSubType"] == "Queued"
    assert call["queueId"] == ["sales"]


def test_queue_and_agent_events_are_not_calls() -> None:
    lines = [
        f"{T}|NONE|NONE|PJSIP/101|AGENTLOGIN|",
        f"{T}|MANAGER|sales|PJSIP/101|ADDMEMBER|",
        f"{T}|REALTIME|sales|PJSIP/101|PAUSE|lunch",
        f"{T}|CLI|NONE|NONE|QUEUESTART|",
    ]
    calls, report = read(lines)
    assert calls == []
    assert (report.invalid, report.unknown_events, report.open_calls) == (0, 0, 0)


def test_a_caller_who_times_out_and_enters_another_queue_is_one_call() -> None:
    lines = [
        q(0, "ENTERQUEUE", "", "5551234", "1"),
        q(30, "EXITWITHTIMEOUT", "1", "1", "30"),
        q(31, "ENTERQUEUE", "", "5551234", "1", queue="overflow"),
        q(41, "CONNECT", "10", f"{T}.18", "1", queue="overflow", agent="PJSIP/7"),
        q(101, "COMPLETEAGENT", "10", "60", "1", queue="overflow"),
    ]
    call = one(lines, waitTime=40_000, agentCallHandlingDuration=60_000, callDuration=101_000)
    assert call["queueId"] == ["sales", "overflow"]
    assert call["hungupBy"] == "Agent"


def test_a_follower_stores_a_call_at_its_end_and_again_when_it_continues() -> None:
    reader = QueueLogReader("pbx1")
    assert reader.feed(numbered([q(0, "ENTERQUEUE", "", "5551234", "1")])) == []
    first = reader.feed([(2, q(30, "EXITWITHTIMEOUT", "1", "1", "30"))])
    assert [call["hungupBy"] for call in first] == ["System"]
    assert reader.oldest_pending_line() == 1  # held a while, should it continue
    assert reader.feed([(3, q(31, "ENTERQUEUE", "", "5551234", "1", queue="overflow"))]) == []
    again = reader.feed(
        [
            (4, q(41, "CONNECT", "10", "", "1", queue="overflow", agent="PJSIP/7")),
            (5, q(101, "COMPLETECALLER", "10", "60", "1", queue="overflow")),
        ]
    )
    assert [call["callId"] for call in again] == [first[0]["callId"]]
    assert again[0]["queueId"] == ["sales", "overflow"]
    assert again[0]["waitTime"] == 40_000
    # Once `settle` has passed in the log's own time, the call is forgotten: state stays small.
    reader.feed([(6, f"{T + 5000}|other|sales|NONE|ENTERQUEUE||1|1")])
    assert ID not in reader.finished
    assert reader.oldest_pending_line() == 6


def test_a_call_in_progress_is_left_open_and_counted() -> None:
    calls, report = read([q(0, "ENTERQUEUE", "", "5551234", "1"), q(5, "CONNECT", "5")])
    assert calls == []
    assert report.open_calls == 1


def test_unknown_events_are_counted_not_errors() -> None:
    lines = [
        q(0, "ENTERQUEUE", "", "5551234", "1"),
        q(1, "MYDIALPLANEVENT", "x"),
        q(2, "ABANDON", "1", "1", "2"),
    ]
    calls, report = read(lines)
    assert len(calls) == 1
    assert (report.unknown_events, report.invalid) == (1, 0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("garbage", "is not epoch|callid|queue|agent|EVENT|data..."),
        (f"17e8|{ID}|sales|NONE|ENTERQUEUE||1", "time '17e8' is not epoch seconds"),
        (f"{T}||sales|NONE|ENTERQUEUE||1", "has no callid"),
        (f"{T}| {ID}|sales|NONE|ENTERQUEUE||1", "has no callid (or one with blanks"),
        (f"{T}|{ID}|sales|NONE|ABANDON|1|1|12x", "ABANDON: '12x' is not a number of seconds"),
        (f"{T}|{ID}|sales|NONE|CONNECT|-5", "CONNECT: '-5' is not a number of seconds"),
        (f"{T}|{ID}|sa\x00les|NONE|ENTERQUEUE||1", "contains a NUL character"),
        (f"{T}|{ID}|sales|NONE|ENTERQUEUE||{'9' * 1100}", "has a field over 1024 characters"),
        (f"{T}|{ID}|sales|NONE|ENTERQUEUE||\udc80", "is not valid UTF-8 text"),
    ],
)
def test_bad_lines_are_named_with_their_number(line: str, message: str) -> None:
    _, report = read([f"{T}|NONE|NONE|NONE|QUEUESTART|", line])
    assert report.invalid == 1
    assert report.errors[0].field == "line 2"
    assert message in report.errors[0].message


def test_a_server_name_is_required() -> None:
    with pytest.raises(SourceError, match="server"):
        QueueLogReader(" ")


# Master.csv ---------------------------------------------------------------------------------

HEAD = '"","5551234","18005550100","from-pstn","""Ada Lovelace"" <5551234>","PJSIP/trunk-01",'


def cdr_row(start: str, end: str, *tail: str, app: str = "Queue", billsec: str = "95") -> str:
    """A Master.csv row of the call, as cdr_csv quotes it, with the columns in `tail` after
    amaflags."""
    fields = ["", app, "", start, start, end, "100", billsec, "ANSWERED", "DOCUMENTATION", *tail]
    return HEAD + ",".join(f'"{field}"' for field in fields)


def test_a_master_csv_row_longer_than_1024_characters_is_read_when_no_field_is() -> None:
    # A ring group's Dial data and a long userfield: 1,300 characters, none of them 1024 long.
    row = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID, "u" * 600 + "\u00e9")
    row = row.replace('"Queue",""', '"Queue","' + "PJSIP/101&" * 70 + '"', 1)
    assert len(row) > 1300
    calls, report = read(CALL, [row])
    assert report.errors == []
    assert [call["callerName"] for call in calls] == ["Ada Lovelace"]


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("Ada\x00", " Lovelace", "contains a NUL character"),
        ("Ada\udcff", " Lovelace", "is not valid UTF-8 text"),
        ("x" * 600, "y" * 600, "has a field over 1024 characters"),
    ],
    ids=["NUL", "not-UTF-8", "long-field"],
)
def test_a_quoted_field_across_lines_is_checked_on_each_of_them(
    before: str, after: str, message: str
) -> None:
    # csv reads a quoted newline into the field: what is wrong on the row's first line (or a
    # field longer than either line) is named with the row, not left to the import's checks.
    row = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "9.9", app="Dial")
    first, rest = row.replace("Ada Lovelace", before + "\n" + after, 1).split("\n")
    calls, report = read([], [first + "\n", rest])
    assert calls == []
    assert [(error.field, error.message) for error in report.errors] == [
        ("Master.csv line 2", message)
    ]


CALL = [
    q(20, "ENTERQUEUE", "", "5551234", "1"),
    q(30, "CONNECT", "10", f"{T}.18", "1", agent="PJSIP/7"),
    q(90, "COMPLETEAGENT", "10", "60", "1"),
]


@pytest.mark.parametrize(
    "tail",
    [
        [ID],  # 17 columns: uniqueid
        [ID, "my-userfield"],  # 18: uniqueid, userfield
        [ID, "", ID, "1"],  # 20: uniqueid, then peeraccount, linkedid, sequence
        [ID, "uf", "", ID, "1"],  # 21: all of them
    ],
    ids=["17", "18", "20", "21"],
)
def test_master_csv_layouts_join_the_queue_call(tail: list[str]) -> None:
    # 2023-11-14 17:13:20 in New York is T: the call starts 20 s before it entered the queue.
    rows = [cdr_row("2023-11-14 17:13:20", "2023-11-14 17:15:00", *tail)]
    calls, report = read(CALL, rows, timezone="America/New_York")
    assert report.errors == []
    [call] = calls
    assert call["startTime"] == T * 1000
    assert call["timeInIVR"] == 20_000
    assert call["callDuration"] == 100_000
    assert call["callerName"] == "Ada Lovelace"
    assert call["dialedNumber"] == "18005550100"
    assert call["waitTime"] == 10_000


def test_master_csv_rows_of_other_legs_join_by_linkedid() -> None:
    agent_leg = (
        '"","5551234","PJSIP/7","from-queue","5551234","Local/7@from-queue-01;1","PJSIP/7-02",'
        '"Dial","","2023-11-14 22:13:25","2023-11-14 22:13:50","2023-11-14 22:15:10","105","80",'
        f'"ANSWERED","DOCUMENTATION","{T}.99","","","{ID}","2"'
    )
    rows = [cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID, "", "", ID, "1"), agent_leg]
    [call], report = read(CALL, rows)
    assert report.errors == []
    assert call["callDuration"] == 110_000  # to the latest end among the legs


def test_a_master_csv_row_without_queue_lines_is_a_no_queue_call() -> None:
    direct = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "1.5", app="Dial", billsec="95")
    menu = cdr_row("2023-11-14 22:20:00", "2023-11-14 22:20:40", "1.6", app="Playback")
    calls, report = read([], [direct, menu])
    assert report.errors == []
    by_id = {call["callId"]: call for call in calls}
    assert by_id["pbx1:1.5"]["agentCallHandlingDuration"] == 95_000
    assert by_id["pbx1:1.5"]["callSubType"] == "No Queue"
    assert by_id["pbx1:1.5"]["callerName"] == "Ada Lovelace"
    assert by_id["pbx1:1.6"]["timeInIVR"] == 40_000
    assert by_id["pbx1:1.6"]["agentCallHandlingDuration"] == 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00"), "has 16 columns"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "a", "b", "c", "d", "e", "f"),
         "has 22 columns"),
        (cdr_row("14/11/2023 22:13", "2023-11-14 22:15:00", ID), "start/end"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:10:00", ID), "ends before it starts"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ""), "empty uniqueid"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "x" * 1025), "over 1024"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "a\x00"), "a NUL character"),
        (cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "\udcff"), "not valid UTF-8"),
    ],
)  # fmt: skip
def test_bad_master_csv_rows_are_named(row: str, message: str) -> None:
    _, report = read(CALL, [cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID), row])
    assert report.invalid == 1
    assert report.errors[0].field == "Master.csv line 2"
    assert message in report.errors[0].message


def test_an_unknown_time_zone_is_named() -> None:
    with pytest.raises(SourceError, match="Mars/Olympus"):
        CdrIndex("Mars/Olympus")


# Random event sequences -------------------------------------------------------------------


@st.composite
def call_lines(draw: st.DrawFn, index: int) -> list[tuple[int, str]]:
    """A consistent story of one call (visits that wait, connect, talk and end), as lines."""
    callid = f"{T}.{index}"
    t = T + draw(st.integers(0, 600))
    lines = []
    for visit in range(draw(st.integers(1, 3))):
        queue = f"q{visit}"
        lines.append((t, f"{t}|{callid}|{queue}|NONE|ENTERQUEUE||555{index}|1"))
        wait = draw(st.integers(0, 300))
        if draw(st.booleans()):
            t += wait
            lines.append((t, f"{t}|{callid}|{queue}|A{visit}|CONNECT|{wait}|x|1"))
            talk = draw(st.integers(0, 900))
            if draw(st.booleans()):
                on = t + draw(st.integers(0, talk))
                off = draw(st.integers(on, t + talk))
                lines.append((on, f"{on}|{callid}|{queue}|A{visit}|CALLERONHOLD|"))
                lines.append((off, f"{off}|{callid}|{queue}|A{visit}|CALLEROFFHOLD|"))
            t += talk
            event = draw(st.sampled_from(["COMPLETEAGENT", "COMPLETECALLER", "BLINDTRANSFER"]))
            data = f"{wait}|{talk}|1" if event != "BLINDTRANSFER" else f"9|ctx|{wait}|{talk}|1"
            lines.append((t, f"{t}|{callid}|{queue}|A{visit}|{event}|{data}"))
        else:
            t += wait
            event = draw(st.sampled_from(["ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"]))
            lines.append((t, f"{t}|{callid}|{queue}|NONE|{event}|1|1|{wait}"))
        t += draw(st.integers(0, 5))
    return lines


@st.composite
def logs(draw: st.DrawFn) -> list[str]:
    """Interleaved calls, in time order or shuffled, possibly cut short."""
    calls = [draw(call_lines(index)) for index in range(draw(st.integers(1, 6)))]
    lines = sorted((line for story in calls for line in story), key=lambda pair: pair[0])
    texts = [text for _, text in lines]
    if draw(st.booleans()):
        random.Random(draw(st.integers(0, 2**32))).shuffle(texts)
    return texts[: draw(st.integers(0, len(texts)))]


def check_invariants(call: dict[str, Any]) -> None:
    numbers = [value for value in call.values() if isinstance(value, int)]
    assert all(value >= 0 for value in numbers)
    assert call["waitTime"] + call["agentCallHandlingDuration"] <= call["callDuration"]
    assert call["abandonTime"] <= call["waitTime"]
    assert call["maximumHoldDuration"] <= call["holdDuration"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_random_logs_keep_the_invariants_and_read_the_same_twice(lines: list[str]) -> None:
    calls, report = read(lines)
    assert report.invalid == 0
    for call in calls:
        check_invariants(call)
    again, _ = read(lines)
    assert again == calls
    assert len({call["callId"] for call in calls}) == len(calls)


@settings(max_examples=200, deadline=None)
@given(logs(), st.integers(1, 7))
def test_a_follower_fed_in_pieces_ends_with_what_an_import_reads(
    lines: list[str], size: int
) -> None:
    imported, _ = read(lines)
    reader = QueueLogReader("pbx1")
    latest: dict[str, dict[str, Any]] = {}
    numbered_lines = numbered(lines)
    for at in range(0, len(lines), size):
        for call in reader.feed(numbered_lines[at : at + size]):
            check_invariants(call)
            latest[call["callId"]] = call
    assert {call["callId"]: call for call in imported}.items() <= latest.items()


QUEUE_LOG_LIKE = r"\d{10}\|[0-9.]{1,6}\|q\|a\|[A-Z]{3,16}(\|[^|\n]{0,8}){0,8}"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=80) | st.from_regex(QUEUE_LOG_LIKE, fullmatch=True), max_size=30),
    st.lists(st.text(max_size=200), max_size=5),
)
def test_any_text_gives_named_errors_or_valid_calls(lines: list[str], cdr: list[str]) -> None:
    # `read` checks that every call it gives passes the import's own validation.
    _, report = read(lines, cdr)
    assert all(error.field.startswith(("line ", "Master.csv line ")) for error in report.errors)


# Values that look like numbers, times or ids to one check and not to the next: digits that
# `str.isdigit` takes and `int` refuses (superscripts), other scripts' and full-width digits,
# signs, exponents, blanks, NUL, lone surrogates (bytes not UTF-8), very long text.
TRICKY = ["\u00b2", "\u00b9\u00b2", "\u0663\u0660", "\uff11\uff10", "\u0966", "-1", "+5", "1e3",
          "0x1f", "5.5", " 7 ", "", " ", "\x00", "\udcff", "99999999999999999999", "9" * 8,
          "x" * 1100, "NONE", "|", ",", '"', "\n"]  # fmt: skip
HOSTILE = st.one_of(*[st.sampled_from(TRICKY)] * 3, st.text(max_size=12))
CDR_TAILS = [[ID], [ID, "uf"], [ID, "", ID, "1"], [ID, "uf", "", ID, "1"]]


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_field_of_any_event_form_or_master_csv_row_gives_named_errors_or_calls(
    data: st.DataObject,
) -> None:
    """Every event form of every version, and every Master.csv layout, with hostile values in
    fields drawn at random: the reader names the line or makes valid calls, and never raises."""
    lines = list(data.draw(st.sampled_from(sorted(FORMS.values())))[0])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        fields = lines[at].split("|")
        field = data.draw(st.integers(0, len(fields)))  # or one more
        fields[field : field + 1] = [data.draw(HOSTILE)]
        lines[at] = "|".join(fields)
    cells = ["", "5551234", "100", "from-pstn", '"Ada" <5551234>', "PJSIP/t-1", "", "Queue",
             "", "2023-11-14 22:13:00", "2023-11-14 22:13:00", "2023-11-14 22:15:00", "120", "95",
             "ANSWERED", "DOCUMENTATION", *data.draw(st.sampled_from(CDR_TAILS))]  # fmt: skip
    for _ in range(data.draw(st.integers(0, 3))):
        cells[data.draw(st.integers(0, len(cells) - 1))] = data.draw(HOSTILE)
    row = ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)
    _, report = read(lines, [row])
    assert all(error.field.startswith(("line ", "Master.csv line ")) for error in report.errors)


def test_a_follower_joins_master_csv_rows_that_come_after_the_call() -> None:
    reader = QueueLogReader("pbx1", cdr=CdrIndex("UTC"))
    [bare] = reader.feed(numbered(CALL))
    assert (bare["timeInIVR"], bare["callerName"]) == (0, "")
    row = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID, "", "", ID, "1")
    [joined] = reader.feed_cdr([(1, row)])
    assert joined["callId"] == bare["callId"]
    assert (joined["timeInIVR"], joined["callerName"]) == (20_000, "Ada Lovelace")
    # A row of a call that never reached a queue is a call of its own, stored at once.
    direct = cdr_row("2023-11-14 22:20:00", "2023-11-14 22:21:00", "9.9", app="Dial")
    [plain] = reader.feed_cdr([(2, direct)])
    assert (plain["callId"], plain["callSubType"]) == ("pbx1:9.9", "No Queue")


def test_a_follower_forgets_old_calls_and_their_rows() -> None:
    reader = QueueLogReader("pbx1", cdr=CdrIndex("UTC"), settle=60)
    reader.feed(numbered(CALL))
    reader.feed_cdr([(1, cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID))])
    # Much later: the call is forgotten, yet its id is kept a while so a late row of it is
    # not taken for a call without a queue.
    reader.feed([(9, f"{T + 200}|other|sales|NONE|ENTERQUEUE||1|1")])
    assert ID not in reader.finished
    assert ID not in reader.cdr.calls  # type: ignore[union-attr]
    assert reader.feed_cdr([(2, cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID))]) == []
    # Past twice `settle`, the id is gone too: the reader's state stays small.
    reader.feed([(10, f"{T + 1000}|other|sales|NONE|ABANDON|1|1|800")])
    late = reader.feed_cdr([(3, cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID))])
    assert [call["callSubType"] for call in late] == ["No Queue"]


def test_a_did_line_of_a_call_that_never_reaches_a_queue_leaves_no_open_call() -> None:
    lines = [f"{T}|{T}.5|NONE|NONE|DID|18005550100", f"{T + 1}|{T}.6|NONE|NONE|CALLERONHOLD|"]
    calls, report = read(lines)
    assert calls == []
    assert (report.open_calls, report.unknown_events, report.invalid) == (0, 0, 0)


def test_a_follower_drops_calls_whose_last_line_never_comes() -> None:
    reader = QueueLogReader("pbx1", stale=600)
    reader.feed(numbered([q(0, "ENTERQUEUE", "", "5551234", "1"), q(5, "CONNECT", "5")]))
    reader.feed([(3, f"{T}|{T}.5|NONE|NONE|DID|18005550100")])
    assert reader.oldest_pending_line() == 1
    reader.feed([(4, f"{T + 4000}|other|sales|NONE|ENTERQUEUE||1|1")])
    assert reader.oldest_pending_line() == 4
    assert reader.report.stale_calls == 1
    assert reader._dids == {}


def test_a_follower_forgets_the_rows_of_calls_without_a_queue() -> None:
    reader = QueueLogReader("pbx1", cdr=CdrIndex("UTC"), settle=60)
    direct = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", "9.9", app="Dial")
    assert len(reader.feed_cdr([(1, direct)])) == 1
    reader.feed([(1, f"{T + 1000}|other|sales|NONE|ENTERQUEUE||1|1")])
    assert "9.9" not in reader.cdr.calls  # type: ignore[union-attr]


# An import reads its files a block at a time (`file_blocks`, `block_feeds`, `feed_blocks`):
# the same index, calls and named errors as line by line, whatever the files hold and wherever
# the blocks end.


_ROW = cdr_row("2023-11-14 22:13:20", "2023-11-14 22:15:00", ID)
CDR_LIKE = [
    _ROW,
    _ROW.replace("Ada Lovelace", "Zoë Ångström"),  # not ASCII, and valid
    _ROW.replace("Ada", "Ada\n"),  # a quoted line end: the row spans two lines
    _ROW.replace("Ada", "Ada\n\x00"),  # ... with a NUL on its second line
    _ROW.replace("Ada", "Ada\udcff\n"),  # ... with bytes not UTF-8 on its first
    _ROW.replace("Ada", "x" * 600 + "\n" + "y" * 600),  # ... and a field over 1024 in all
    _ROW.replace("Lovelace", "Lovelace" + "z" * 1020),  # a line over 1024, its field too
    _ROW.replace('""Ada', '"Ada'),  # not CSV
    _ROW.rsplit(",", 1)[0] + ',"' + "u" * 1024,  # a quote left open: a row still being written
]


LOG_HOSTILE = [
    f"{T}|{ID}|sales|NONE|ENTERQUEUE||5551234|1|Ada\x00",  # a NUL
    f"{T}|{ID}|sales|NONE|ENTERQUEUE||5551234|1|Ada\udcff",  # bytes not UTF-8
    f"{T}|{ID}|sales|NONE|ENTERQUEUE||5551234|1|" + "A" * 1100,  # a field over 1024
    f"{T + 5}|{ID}|sales|agent1|CONNECT|5|{ID}.1|1",
    f"{T + 60}|{ID}|sales|agent1|COMPLETECALLER|5|55|1",
]


def write_lines(path: Path, lines: list[str], *, ended: bool = True) -> Path:
    # Lone surrogates are written as the bytes a broken encoder writes: not UTF-8. Not `ended`:
    # the last line has no line end (a line being written).
    text = "".join(f"{line}\n" for line in lines)
    if not ended:
        text = text.removesuffix("\n")
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(max_size=80)
        | st.from_regex(QUEUE_LOG_LIKE, fullmatch=True)
        | st.sampled_from(LOG_HOSTILE)
        | st.just("x" * 1030),
        max_size=30,
    ),
    st.lists(st.text(max_size=200) | st.sampled_from(CDR_LIKE), max_size=12),
    st.sampled_from([1, 16, 200, 1 << 20]),
    st.integers(1, 7),
    st.booleans(),
)
def test_a_read_in_blocks_is_a_read_line_by_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    rows: list[str],
    size: int,
    feed_lines: int,
    ended: bool,
) -> None:
    monkeypatch.setattr(asterisk, "FEED_LINES", feed_lines)
    log = write_lines(tmp_path / "queue_log", lines, ended=ended)
    cdr = write_lines(tmp_path / "Master.csv", rows, ended=ended)

    by_line, by_block = CdrIndex("America/New_York"), CdrIndex("America/New_York")
    by_line.feed(file_lines(cdr, 1 << 20), touched=False)
    by_block.feed_blocks(file_blocks(cdr, 1 << 20, size))
    assert (by_block.calls, by_block.report) == (by_line.calls, by_line.report)

    feeds = list(asterisk.feeds(file_lines(log, 1 << 20)))
    blocks = list(block_feeds(file_blocks(log, 1 << 20, size)))
    assert [list(enumerate(b.lines, b.first)) for b in blocks] == [
        [(number, text.removesuffix("\n")) for number, text in feed] for feed in feeds
    ]
    line_reader, block_reader = (QueueLogReader("pbx1", hold_finished=True) for _ in "ab")
    assert [line_reader.feed(feed) for feed in feeds] == [
        block_reader.feed(enumerate(b.lines, b.first), plain=b.plain) for b in blocks
    ]
    assert (block_reader.close(), block_reader.report) == (line_reader.close(), line_reader.report)


def test_a_time_in_other_digits_is_named_on_any_read() -> None:
    # `int` reads Arabic-Indic digits: a time written in them is no epoch time.
    arabic = "".join(chr(0x0660 + int(digit)) for digit in str(T))
    line = f"{arabic}|{ID}|sales|NONE|ENTERQUEUE||5551234|1"
    for plain in (False, True):
        reader = QueueLogReader("pbx1")
        assert reader.feed([(1, line)], plain=plain) == []
        [error] = reader.report.errors
        assert (error.field, error.message) == ("line 1", f"time {arabic!r} is not epoch seconds")
