"""The demo's calls written as each telephony source logs them, and read back, field by field."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recent_calls.demo import generate_calls
from recent_calls.demo.telephony import (
    _uuid,
    write_asterisk,
    write_connect,
    write_freeswitch,
)
from recent_calls.ingest.asterisk import read_asterisk
from recent_calls.ingest.connect import read_connect
from recent_calls.ingest.freeswitch import read_freeswitch
from recent_calls.ingest.records import LocalTimeReader, parse_call
from recent_calls.ingest.sources import SourceReport, numbered

END_MS = 1_764_806_400_000
ZONE = "America/New_York"


@pytest.fixture(scope="module")
def demo_calls() -> list[dict[str, Any]]:
    return list(generate_calls("acmecorp01", 3000, seed=11, end_ms=END_MS, timezone=ZONE))


class Compare:
    """Collects every field that differs by more than the source's resolution allows."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def same(self, what: str, got: Any, expected: Any) -> None:
        if got != expected:
            self.problems.append(f"{what}: {got!r} != {expected!r}")

    def near(self, what: str, got: float, expected: float, tolerance: float) -> None:
        if abs(got - expected) > tolerance:
            self.problems.append(f"{what}: {got} not within {tolerance} of {expected}")


def ms(call: dict[str, Any], name: str) -> float:
    return float(call[name])


def parts(value: Any) -> list[str]:
    if isinstance(value, list):
        return value
    return [part for part in str(value).split(",") if part]


def valid(calls: list[dict[str, Any]]) -> None:
    clock = LocalTimeReader(ZoneInfo("UTC"))
    for call in calls:
        row, errors = parse_call(call, clock, "call")
        assert row is not None, (call, errors)


def kinds(calls: list[dict[str, Any]]) -> set[str]:
    seen = set()
    for call in calls:
        seen.add(call["callSubType"])
        if float(call["abandonTime"]):
            seen.add("abandoned")
        if float(call["transferCount"]):
            seen.add("transferred")
        if call["agentHoldCount"]:
            seen.add("held")
    return seen


def test_the_demo_has_every_kind_of_call(demo_calls: list[dict[str, Any]]) -> None:
    assert kinds(demo_calls) >= {
        "Queued",
        "Verification",
        "No Queue",
        "Agent Dial",
        "abandoned",
        "transferred",
        "held",
    }


# cdr_csv's `build_csv_record` with loguniqueid, loguserfield and newcdrcolumns on: each text
# field quoted (`append_string`, its quotes doubled), duration, billsec and sequence bare
# (`append_int`), a date never set left empty and bare (`append_date`).
TEXT, NUMBER, DATE = r'"(?:[^"]|"")*"', r"-?[0-9]+", r'(?:"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}")?'
CDR_CSV_LINE = re.compile(
    ",".join([TEXT] * 9 + [DATE] * 3 + [NUMBER] * 2 + [TEXT] * 6 + [NUMBER]) + "\n"
)


def test_the_demo_master_csv_is_written_as_cdr_csv_writes_it(
    demo_calls: list[dict[str, Any]],
) -> None:
    master = io.StringIO()
    write_asterisk(demo_calls, io.StringIO(), master, timezone=ZONE)
    lines = master.getvalue().splitlines(keepends=True)
    assert len(lines) > len(demo_calls)
    assert [line for line in lines if not CDR_CSV_LINE.fullmatch(line)] == []


def test_asterisk_round_trip(demo_calls: list[dict[str, Any]]) -> None:
    queue_log, master = io.StringIO(), io.StringIO()
    write_asterisk(demo_calls, queue_log, master, timezone=ZONE)
    report = SourceReport()
    got = list(
        read_asterisk(
            numbered(queue_log.getvalue()),
            server="pbx1",
            cdr=numbered(master.getvalue()),
            timezone=ZONE,
            report=report,
        )
    )
    assert (report.invalid, report.open_calls, report.unknown_events) == (0, 0, 0)
    assert len(got) == len(demo_calls)
    valid(got)
    by_index = {call["callId"].rsplit(".", 1)[1]: call for call in got}
    check = Compare()
    for index, demo in enumerate(demo_calls):
        call = by_index[str(index)]
        sub = demo["callSubType"]
        legs = len(parts(demo["queueId"])) or 1
        at = f"call {index} ({sub})"
        check.near(f"{at} startTime", call["startTime"], demo["startTime"], 1000)
        check.near(f"{at} callDuration", call["callDuration"], ms(demo, "callDuration"), 2000)
        if sub == "Agent Dial":
            check.same(f"{at} callType", call["callType"], "Outbound")
            check.same(f"{at} number", call["callerPhoneNumber"], demo["callerNumber"])
            check.same(f"{at} destination", call["destinationNumber"], demo["destinationNumber"])
            check.near(
                f"{at} handling",
                call["agentCallHandlingDuration"],
                ms(demo, "agentCallHandlingDuration"),
                1000,
            )
            continue
        check.same(f"{at} callType", call["callType"], "Inbound")
        check.same(f"{at} number", call["callerPhoneNumber"], demo["callerPhoneNumber"])
        check.same(f"{at} name", call["callerName"], demo["callerName"])
        check.same(f"{at} dialed", call["dialedNumber"], demo["dialedNumber"])
        if sub == "No Queue":
            check.same(f"{at} subType", call["callSubType"], "No Queue")
            check.near(f"{at} ivr", call["timeInIVR"], ms(demo, "timeInIVR"), 2000)
            continue
        check.same(f"{at} subType", call["callSubType"], "Queued")
        check.same(f"{at} queues", call["queueId"], parts(demo["queueId"]))
        check.same(f"{at} agents", call["agentId"], parts(demo["agentId"]))
        check.same(f"{at} hungupBy", call["hungupBy"], demo["hungupBy"])
        check.same(f"{at} transfers", call["transferCount"], int(ms(demo, "transferCount")))
        check.same(f"{at} holds", call["agentHoldCount"], demo["agentHoldCount"])
        check.near(f"{at} ivr", call["timeInIVR"], ms(demo, "timeInIVR"), 1000)
        check.near(f"{at} wait", call["waitTime"], ms(demo, "waitTime"), 1000 * legs)
        check.near(f"{at} abandon", call["abandonTime"], ms(demo, "abandonTime"), 1000)
        check.near(
            f"{at} handling",
            call["agentCallHandlingDuration"],
            ms(demo, "agentCallHandlingDuration"),
            1000 * legs,
        )
        holds = demo["agentHoldCount"]
        check.near(f"{at} hold", call["holdDuration"], ms(demo, "holdDuration"), 1000 * holds)
        check.near(
            f"{at} max hold", call["maximumHoldDuration"], ms(demo, "maximumHoldDuration"), 1000
        )
    assert check.problems[:20] == []


@pytest.mark.parametrize("encode_values", [True, False])
def test_freeswitch_round_trip(
    demo_calls: list[dict[str, Any]], tmp_path: Path, encode_values: bool
) -> None:
    write_freeswitch(demo_calls, tmp_path, encode_values=encode_values)
    report = SourceReport()
    got = []
    for path in sorted(tmp_path.iterdir()):
        got += read_freeswitch(
            path.read_bytes(), name=path.name, encoded_values=encode_values, report=report
        )
    assert report.invalid == 0
    agent_legs = sum(
        len(parts(demo["agentId"])) for demo in demo_calls if demo["callSubType"] != "Agent Dial"
    )
    assert report.skipped == agent_legs
    assert len(got) == len(demo_calls)
    valid(got)
    by_id = {call["callId"]: call for call in got}
    check = Compare()
    for index, demo in enumerate(demo_calls):
        call = by_id[f"fs1:{_uuid(demo, 'caller')}"]
        sub = demo["callSubType"]
        at = f"call {index} ({sub})"
        check.same(f"{at} startTime", call["startTime"], demo["startTime"])
        check.same(f"{at} callDuration", call["callDuration"], ms(demo, "callDuration"))
        check.same(f"{at} callType", call["callType"], demo["callType"])
        check.same(f"{at} hold", call["holdDuration"], ms(demo, "holdDuration"))
        check.same(f"{at} max hold", call["maximumHoldDuration"], ms(demo, "maximumHoldDuration"))
        check.same(f"{at} holds", call["agentHoldCount"], demo["agentHoldCount"])
        check.same(f"{at} transfers", call["transferCount"], int(ms(demo, "transferCount")))
        if sub == "Agent Dial":
            check.same(f"{at} number", call["callerPhoneNumber"], demo["callerNumber"])
            check.same(f"{at} destination", call["destinationNumber"], demo["destinationNumber"])
            check.same(f"{at} dialed", call["dialedNumber"], demo["dialedNumber"])
            check.same(f"{at} hungupBy", call["hungupBy"], demo["hungupBy"])
            check.same(
                f"{at} handling",
                call["agentCallHandlingDuration"],
                ms(demo, "agentCallHandlingDuration"),
            )
            continue
        check.same(f"{at} number", call["callerPhoneNumber"], demo["callerPhoneNumber"])
        check.same(f"{at} name", call["callerName"], demo["callerName"])
        check.same(f"{at} dialed", call["dialedNumber"], demo["dialedNumber"])
        if sub == "No Queue":
            check.same(f"{at} subType", call["callSubType"], "No Queue")
            check.near(f"{at} ivr", call["timeInIVR"], ms(demo, "timeInIVR"), 1000)
            continue
        check.same(f"{at} subType", call["callSubType"], "Queued")
        check.same(f"{at} hungupBy", call["hungupBy"], demo["hungupBy"])
        check.same(f"{at} queue", call["queueId"], parts(demo["queueId"])[0])
        check.same(f"{at} agent", call["agentId"], (parts(demo["agentId"]) or [""])[0])
        check.near(f"{at} ivr", call["timeInIVR"], ms(demo, "timeInIVR"), 1000)
        check.near(f"{at} wait", call["waitTime"], ms(demo, "waitTime"), 1500)
        check.near(f"{at} abandon", call["abandonTime"], ms(demo, "abandonTime"), 1500)
        check.near(
            f"{at} handling",
            call["agentCallHandlingDuration"],
            ms(demo, "agentCallHandlingDuration"),
            1000,
        )
    assert check.problems[:20] == []


def test_connect_round_trip(demo_calls: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    write_connect(demo_calls, out)
    report = SourceReport()
    got = read_connect(out.getvalue(), name="ctr.json", report=report)
    assert report.invalid == 0
    assert report.skipped > 0  # the stale deliveries, which lost to the latest
    valid(got)
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in got:
        chains[call["transactionId"]].append(call)
    assert len(chains) == len(demo_calls)
    check = Compare()
    for index, demo in enumerate(demo_calls):
        chain = sorted(chains[_uuid(demo, "contact0")], key=lambda call: call["startTime"])
        first, last = chain[0], chain[-1]
        sub = demo["callSubType"]
        at = f"call {index} ({sub})"
        legs = len(chain)
        total = last["startTime"] + last["callDuration"] - first["startTime"]
        check.same(f"{at} legs", legs, int(ms(demo, "transferCount")) + 1)
        check.near(f"{at} startTime", first["startTime"], demo["startTime"], 1000)
        check.near(f"{at} callDuration", total, ms(demo, "callDuration"), 2000)
        check.same(f"{at} callType", first["callType"], demo["callType"])
        check.same(f"{at} number", first["callerPhoneNumber"], demo["callerPhoneNumber"])
        check.same(f"{at} dialed", first["dialedNumber"], demo["dialedNumber"])
        check.same(f"{at} hungupBy", last["hungupBy"], demo["hungupBy"])
        check.same(
            f"{at} queues", [c["queueId"] for c in chain if c["queueId"]], parts(demo["queueId"])
        )
        check.same(
            f"{at} agents", [c["agentId"] for c in chain if c["agentId"]], parts(demo["agentId"])
        )
        groups = list(dict.fromkeys(c["agentGroup"] for c in chain if c["agentGroup"]))
        check.same(f"{at} groups", groups, parts(demo["agentGroup"]))
        check.same(f"{at} transfers", sum(c["transferCount"] for c in chain), legs - 1)
        check.same(f"{at} holds", sum(c["agentHoldCount"] for c in chain), demo["agentHoldCount"])
        holds = demo["agentHoldCount"]
        check.near(
            f"{at} hold",
            sum(c["holdDuration"] for c in chain),
            ms(demo, "holdDuration"),
            1000 * holds,
        )
        check.near(
            f"{at} max hold",
            max(c["maximumHoldDuration"] for c in chain),
            ms(demo, "maximumHoldDuration"),
            1000,
        )
        check.near(
            f"{at} wait", sum(c["waitTime"] for c in chain), ms(demo, "waitTime"), 1000 * legs
        )
        check.near(f"{at} abandon", first["abandonTime"], ms(demo, "abandonTime"), 1000)
        check.near(
            f"{at} handling",
            sum(c["agentCallHandlingDuration"] for c in chain),
            ms(demo, "agentCallHandlingDuration"),
            1000 * legs,
        )
        if sub in ("Queued", "Verification"):
            check.near(f"{at} ivr", first["timeInIVR"], ms(demo, "timeInIVR"), 1000)
    assert check.problems[:20] == []
