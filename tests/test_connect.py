"""The Amazon Connect reader: contact records one per line or concatenated, transfer chains,
duplicate deliveries, and fuzzed input."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.ingest.connect import read_connect
from recent_calls.ingest.records import LocalTimeReader, parse_call
from recent_calls.ingest.sources import SourceReport

INSTANCE = "arn:aws:connect:eu-west-2:111122223333:instance/9f2b1c3e-aaaa-4bbb-8ccc-123456789012"
FIRST = "11111111-0000-4000-8000-000000000001"
SECOND = "22222222-0000-4000-8000-000000000002"


def record(contact: str = FIRST, **changes: Any) -> dict[str, Any]:
    """A contact record as Connect streams it: an inbound call that waited 40 s in a queue and
    talked with an agent, with two holds."""
    base: dict[str, Any] = {
        "AWSAccountId": "111122223333",
        "InstanceARN": INSTANCE,
        "ContactId": contact,
        "Channel": "VOICE",
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2025-03-04T10:00:00Z",
        "ConnectedToSystemTimestamp": "2025-03-04T10:00:01Z",
        "DisconnectTimestamp": "2025-03-04T10:06:40Z",
        "LastUpdateTimestamp": "2025-03-04T10:07:41Z",
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "CustomerEndpoint": {"Address": "+447700900123", "Type": "TELEPHONE_NUMBER"},
        "SystemEndpoint": {"Address": "+442079460000", "Type": "TELEPHONE_NUMBER"},
        "Queue": {
            "Name": "BasicQueue",
            "ARN": f"{INSTANCE}/queue/q1",
            "EnqueueTimestamp": "2025-03-04T10:00:31Z",
            "DequeueTimestamp": "2025-03-04T10:01:11Z",
            "Duration": 40,
        },
        "Agent": {
            "Username": "jdoe",
            "ARN": f"{INSTANCE}/agent/a1",
            "ConnectedToAgentTimestamp": "2025-03-04T10:01:11Z",
            "AgentInteractionDuration": 300,
            "CustomerHoldDuration": 45,
            "LongestHoldDuration": 30,
            "NumberOfHolds": 2,
            "HierarchyGroups": {
                "Level1": {"GroupName": "Europe", "ARN": "g1"},
                "Level2": {"GroupName": "London support", "ARN": "g2"},
            },
        },
        "Attributes": {},
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def read(text: str) -> tuple[list[dict[str, Any]], SourceReport]:
    report = SourceReport()
    calls = read_connect(text, name="ctr.json", report=report)
    clock = LocalTimeReader(ZoneInfo("UTC"))
    for call in calls:
        row, errors = parse_call(call, clock, "call")
        assert row is not None, errors
    return calls, report


def test_an_answered_inbound_call() -> None:
    [call], report = read(json.dumps(record()))
    assert report.errors == []
    assert call["callId"] == f"9f2b1c3e-aaaa-4bbb-8ccc-123456789012:{FIRST}"
    assert call["startTime"] == 1_741_082_400_000
    assert call["callDuration"] == 400_000
    assert call["timeInIVR"] == 30_000
    assert (call["waitTime"], call["abandonTime"]) == (40_000, 0)
    assert call["agentCallHandlingDuration"] == 345_000
    assert (call["holdDuration"], call["maximumHoldDuration"], call["agentHoldCount"]) == (
        45_000,
        30_000,
        2,
    )
    assert (call["queueId"], call["agentId"], call["agentGroup"]) == (
        "BasicQueue",
        "jdoe",
        "London support",
    )
    assert (call["callerNumber"], call["dialedNumber"]) == ("+447700900123", "+442079460000")
    assert (call["callType"], call["callSubType"], call["hungupBy"]) == (
        "Inbound",
        "Queued",
        "Caller",
    )
    assert (call["transferCount"], call["transactionId"]) == (0, FIRST)


def test_an_abandoned_call_has_a_queue_and_no_agent() -> None:
    [call], _ = read(json.dumps(record(Agent=None, DisconnectTimestamp="2025-03-04T10:01:11Z")))
    assert (call["waitTime"], call["abandonTime"], call["agentId"]) == (40_000, 40_000, "")
    assert call["agentCallHandlingDuration"] == 0


def test_a_transfer_chain_is_one_call_per_record_linked_by_the_initial_contact() -> None:
    first = record(TransferCompletedTimestamp="2025-03-04T10:04:00Z")
    second = record(
        SECOND,
        InitiationMethod="TRANSFER",
        PreviousContactId=FIRST,
        InitialContactId=FIRST,
        DisconnectReason="AGENT_DISCONNECT",
    )
    calls, _ = read(json.dumps(first) + "\n" + json.dumps(second))
    by_id = {call["callId"].split(":")[1]: call for call in calls}
    assert by_id[FIRST]["transferCount"] == 1
    assert by_id[SECOND]["transferCount"] == 0
    assert by_id[FIRST]["transactionId"] == by_id[SECOND]["transactionId"] == FIRST
    assert by_id[SECOND]["callType"] == "Inbound"
    assert by_id[SECOND]["hungupBy"] == "Agent"


def test_the_latest_update_of_a_contact_wins_whatever_the_order() -> None:
    early = record(Agent=None, LastUpdateTimestamp="2025-03-04T10:02:00Z")
    late = record()
    for text in (
        json.dumps(early) + "\n" + json.dumps(late),
        json.dumps(late) + "\n" + json.dumps(early),
    ):
        [call], report = read(text)
        assert call["agentId"] == "jdoe"
        assert report.skipped == 1


def test_each_call_carries_its_last_update_as_its_source_version() -> None:
    # Storage keeps a stored call whose version is newer: the latest update wins across imports.
    [call], _ = read(json.dumps(record()))
    assert call["sourceVersion"] == 1_741_082_861_000  # 2025-03-04T10:07:41Z
    [call], _ = read(json.dumps(record(LastUpdateTimestamp=None)))
    assert call["sourceVersion"] is None  # no version: it replaces, as a JSON line does


def test_concatenated_and_pretty_printed_records_read_like_lines() -> None:
    one_per_line, _ = read(json.dumps(record()) + "\n" + json.dumps(record(SECOND)))
    concatenated, _ = read(json.dumps(record()) + json.dumps(record(SECOND)))
    pretty, _ = read(json.dumps(record(), indent=2) + "\n" + json.dumps(record(SECOND), indent=2))
    assert one_per_line == concatenated == pretty
    assert len(one_per_line) == 2


def test_an_outbound_call_is_with_the_customer() -> None:
    [call], _ = read(json.dumps(record(InitiationMethod="OUTBOUND", Queue=None)))
    assert call["callType"] == "Outbound"
    assert call["callSubType"] == "No Queue"
    assert call["destinationNumber"] == call["callerNumber"] == "+447700900123"


def test_other_channels_are_not_calls() -> None:
    calls, report = read(json.dumps(record(Channel="CHAT")))
    assert calls == []
    assert (report.skipped, report.invalid) == (1, 0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{nope", "is not valid JSON"),
        (json.dumps(record(ContactId=None)), "has no ContactId"),
        (json.dumps(record(InstanceARN="x", Agent=None, Queue=None)), "has no InstanceARN"),
        (json.dumps(record(InitiationTimestamp="yesterday")), "InitiationTimestamp is not"),
        (json.dumps(record(InitiationTimestamp="2025-03-04T10:00:00")), "has no zone"),
        (json.dumps(record(Queue={"Name": "q", "Duration": "40"})), "Queue.Duration"),
        (json.dumps([1, 2]), "is not a JSON object"),
        # Past Python's limit on reading digits into an int: not a ValueError out of the file.
        ('{"ContactId": ' + "1" * 4301 + "}", "more than 4300 digits"),
        ("[" * 2000 + "]" * 2000, "nested too deeply"),
    ],
)
def test_bad_records_are_named_with_their_line(bad: str, message: str) -> None:
    text = json.dumps(record()) + "\n" + bad + "\n" + json.dumps(record(SECOND))
    calls, report = read(text)
    assert len(calls) == 2
    assert [error.field for error in report.errors] == ["ctr.json line 2"]
    assert message in report.errors[0].message


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(record())), _JSON))
def test_fuzzed_records_give_valid_calls_or_named_errors(changes: dict[str, Any]) -> None:
    _, report = read(json.dumps(record(**changes)))
    assert all(error.field == "ctr.json line 1" for error in report.errors)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_give_named_errors(data: bytes | str) -> None:
    report = SourceReport()
    read_connect(data, name="ctr.json", report=report)
    assert all(error.field.startswith("ctr.json line ") for error in report.errors)


def test_re_reading_overlapping_deliveries_gives_the_same_calls() -> None:
    first = [record(), record(SECOND)]
    overlap = [record(SECOND, LastUpdateTimestamp="2025-03-04T10:09:00Z", Agent=None)]
    text = "\n".join(json.dumps(item) for item in first + overlap)
    calls, _ = read(text)
    again, _ = read(text + "\n" + text)
    assert again == calls
    assert {call["agentId"] for call in calls} == {"jdoe", ""}
