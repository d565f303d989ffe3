"""The FreeSWITCH reader: mod_json_cdr documents of member, agent and plain legs, encode-values
on and off, the three POST encodings, and fuzzed input."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.ingest.freeswitch import call_from_post, decode_post, leg_call, read_freeswitch
from recent_calls.ingest.records import LocalTimeReader, parse_call
from recent_calls.ingest.sources import SourceError, SourceReport

T = 1_700_000_000


def member_leg(**variables: str) -> dict[str, Any]:
    """A member leg as mod_json_cdr writes it (encode-values off), answered by agent 1001 after
    a 20 s wait, 30 s after it started, and talked for 120 s."""
    base = {
        "uuid": "7f4de4bc-1111-4d3c-9a0e-0123456789ab",
        "direction": "inbound",
        "start_epoch": str(T),
        "start_uepoch": f"{T}250000",
        "duration": "171",
        "mduration": "171250",
        "billmsec": "171000",
        "cc_side": "member",
        "cc_queue": "support@default",
        "cc_agent": "1001@default",
        "cc_cause": "answered",
        "cc_queue_joined_epoch": str(T + 30),
        "cc_queue_answered_epoch": str(T + 50),
        "cc_queue_terminated_epoch": str(T + 170),
        "sip_hangup_disposition": "recv_bye",
    }
    base.update(variables)
    return {
        "core-uuid": "2b8c2f4e-0000-4000-8000-00000000c0de",
        "switchname": "fs-east",
        "channel_data": {"state": "CS_REPORTING", "direction": "inbound"},
        "variables": {key: value for key, value in base.items() if value != "-"},
        "callflow": [
            {
                "profile_index": "2",
                "caller_profile": {"caller_id_number": "1001", "destination_number": "2002"},
            },
            {
                "profile_index": "1",
                "caller_profile": {
                    "caller_id_name": "Ada Lovelace",
                    "caller_id_number": "+15551234567",
                    "destination_number": "18005550100",
                },
            },
        ],
    }


def read_one(doc: Any, encoded: bool = False) -> dict[str, Any]:
    call = leg_call(doc, encoded_values=encoded)
    assert call is not None
    row, errors = parse_call(call, LocalTimeReader(ZoneInfo("UTC")), "call")
    assert row is not None, errors
    return call


def test_an_answered_member_leg() -> None:
    call = read_one(member_leg())
    assert call["callId"] == "fs-east:7f4de4bc-1111-4d3c-9a0e-0123456789ab"
    assert call["startTime"] == T * 1000 + 250
    assert call["callDuration"] == 171_250
    assert call["timeInIVR"] == 30_000
    assert call["waitTime"] == 20_000
    assert call["abandonTime"] == 0
    assert call["agentCallHandlingDuration"] == 120_000
    assert (call["queueId"], call["agentId"]) == ("support@default", "1001@default")
    assert (call["callerName"], call["callerNumber"]) == ("Ada Lovelace", "+15551234567")
    assert call["dialedNumber"] == "18005550100"  # the first profile, not the transfer's
    assert (call["callType"], call["callSubType"], call["hungupBy"]) == (
        "Inbound",
        "Queued",
        "Caller",
    )


@pytest.mark.parametrize(
    ("reason", "abandon"), [("BREAK_OUT", 25_000), ("NONE", 25_000), ("TIMEOUT", 0)]
)
def test_a_leg_that_left_the_queue_unanswered(reason: str, abandon: int) -> None:
    doc = member_leg(
        cc_cause="cancel",
        cc_cancel_reason=reason,
        cc_agent="-",
        cc_queue_answered_epoch="-",
        cc_queue_terminated_epoch="-",
        cc_queue_canceled_epoch=str(T + 55),
        sip_hangup_disposition="recv_bye" if reason != "TIMEOUT" else "send_bye",
    )
    call = read_one(doc)
    assert call["waitTime"] == 25_000
    assert call["abandonTime"] == abandon
    assert call["agentCallHandlingDuration"] == 0
    assert call["hungupBy"] == ("System" if reason == "TIMEOUT" else "Caller")


def test_a_held_and_transferred_leg() -> None:
    doc = member_leg(
        hold_accum_usec="45500000",
        hold_events="{{1700000060000000,1700000090000000},{1700000100000000,1700000115500999}}",
        transfer_history=(
            "ARRAY::1700000120:8c1e-aa:bl_xfer:2002/default/XML|:1700000140:8c1e-bb:att_xfer:3003"
        ),
        sip_hangup_disposition="send_bye",
    )
    call = read_one(doc)
    assert call["holdDuration"] == 45_500
    assert call["maximumHoldDuration"] == 30_000
    assert call["agentHoldCount"] == 2
    assert call["transferCount"] == 2
    assert call["hungupBy"] == "Agent"


def test_hold_accum_ms_wins_and_one_transfer_entry_counts() -> None:
    call = read_one(member_leg(hold_accum_ms="1234", transfer_history="1:x:bl_xfer:2002"))
    assert (call["holdDuration"], call["transferCount"]) == (1234, 1)


def test_agent_legs_are_not_calls() -> None:
    doc = member_leg(cc_side="agent")
    assert leg_call(doc, encoded_values=False) is None
    report = SourceReport()
    assert read_freeswitch(json.dumps(doc), name="a.json", report=report) == []
    assert (report.skipped, report.invalid) == (1, 0)


def test_a_leg_that_never_reached_a_queue() -> None:
    plain = {
        key: "-"
        for key in member_leg()["variables"]
        if key.startswith("cc_") or key == "sip_hangup_disposition"
    }
    bridged = read_one(member_leg(**plain, last_bridge_to="c0ffee", billmsec="95000"))
    assert bridged["callSubType"] == "No Queue"
    assert bridged["agentCallHandlingDuration"] == 95_000
    assert (bridged["queueId"], bridged["agentId"], bridged["waitTime"]) == ("", "", 0)
    menu = read_one(member_leg(**plain))
    assert (menu["agentCallHandlingDuration"], menu["timeInIVR"]) == (0, 171_250)


def test_older_versions_direction_and_times_in_variables_only() -> None:
    doc = member_leg(start_uepoch="-", mduration="-")
    del doc["channel_data"]
    doc["callflow"] = doc["callflow"][1]  # a single object, as older versions write it
    call = read_one(doc)
    assert (call["startTime"], call["callDuration"], call["callType"]) == (
        T * 1000,
        171_000,
        "Inbound",
    )
    assert call["callerName"] == "Ada Lovelace"


def test_an_outbound_leg_is_with_the_number_it_dialled() -> None:
    doc = member_leg(direction="outbound", cc_side="-")
    doc["channel_data"]["direction"] = "outbound"
    call = read_one(doc)
    assert call["callType"] == "Outbound"
    assert call["callerNumber"] == call["destinationNumber"] == "18005550100"


def encoded(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as mod_json_cdr writes it with encode-values on."""
    doc = copy.deepcopy(doc)
    doc["variables"] = {key: quote(value, safe="") for key, value in doc["variables"].items()}
    return doc


def test_encode_values_on_decodes_the_variables() -> None:
    doc = member_leg(cc_queue="support desk@default", cc_agent="Zoë 1001@default")
    call = read_one(encoded(doc), encoded=True)
    assert (call["queueId"], call["agentId"]) == ("support desk@default", "Zoë 1001@default")
    assert read_one(doc) == call


def test_json_lines_name_their_bad_lines() -> None:
    lines = "\n".join(
        [
            json.dumps(member_leg()),
            "{not json",
            json.dumps(member_leg(uuid="-")),
            json.dumps(member_leg(uuid="second", start_uepoch="x")),
            json.dumps(member_leg(uuid="third")),
        ]
    )
    report = SourceReport()
    calls = read_freeswitch(lines, name="legs.jsonl", encoded_values=False, report=report)
    assert [call["callId"] for call in calls] == [
        "fs-east:7f4de4bc-1111-4d3c-9a0e-0123456789ab",
        "fs-east:third",
    ]
    assert [error.field for error in report.errors] == [
        "legs.jsonl line 2",
        "legs.jsonl line 3",
        "legs.jsonl line 4",
    ]
    assert "is not valid JSON" in report.errors[0].message
    assert report.errors[1].message == "has no variables.uuid"
    assert "variables.start_uepoch is not a whole number" in report.errors[2].message


def test_the_three_post_encodings_give_the_same_call() -> None:
    doc = encoded(member_leg(caller_id_name="A+B & C"))
    text = json.dumps(doc)
    form = call_from_post(b"cdr=" + quote_plus(text).encode(), "application/x-www-form-urlencoded")
    b64 = call_from_post(
        b"cdr=" + base64.b64encode(text.encode()), "application/x-www-form-base64-encoded"
    )
    plain = call_from_post(text.encode(), "application/json")
    assert form == b64 == plain == read_one(doc, encoded=True)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"uuid=1", "application/x-www-form-urlencoded", "has no cdr= field"),
        (b"cdr=%7B", "application/x-www-form-urlencoded", "is not valid JSON"),
        (b"cdr=@@@", "application/x-www-form-base64-encoded", "cdr= is not base64"),
        (b"\xff", "application/x-www-form-urlencoded", "is not ASCII form data"),
        (b"[1]", "application/json", "is not a JSON object"),
    ],
)
def test_bad_posts_are_named(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(SourceError) as raised:
        call_from_post(body, content_type)
    assert raised.value.error.field == "body"
    assert message in raised.value.error.message


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
@given(
    st.dictionaries(
        st.sampled_from([*sorted(member_leg()["variables"]), "hold_events", "transfer_history"]),
        _JSON,
    ),
    st.booleans(),
)
def test_fuzzed_variables_give_a_valid_call_or_a_named_error(
    variables: dict[str, Any], encoded_values: bool
) -> None:
    doc = member_leg()
    doc["variables"].update(variables)
    report = SourceReport()
    calls = read_freeswitch(
        json.dumps(doc), name="leg.json", encoded_values=encoded_values, report=report
    )
    clock = LocalTimeReader(ZoneInfo("UTC"))
    for call in calls:
        row, errors = parse_call(call, clock, "call")
        assert row is not None, errors
    assert all(error.field == "leg.json" for error in report.errors), report.errors


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "application/x-www-form-base64-encoded",
            "",
        ]
    ),
)
def test_any_post_body_is_a_call_or_a_named_error(body: bytes, content_type: str) -> None:
    try:
        call_from_post(body, content_type)
    except SourceError as exc:
        assert exc.error.field == "body"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=200) | _JSON.map(json.dumps))
def test_any_file_is_calls_or_named_errors(data: bytes | str) -> None:
    report = SourceReport()
    read_freeswitch(data, name="x.json", report=report)
    assert all(error.field.startswith("x.json") for error in report.errors)


def _places(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    # Every key and list position of a document, outermost first.
    inner = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    return [
        place for key, value in inner for place in [(*path, key), *_places(value, (*path, key))]
    ]


@pytest.mark.parametrize(
    "place", _places(member_leg()), ids=lambda place: ".".join(map(str, place))
)
@pytest.mark.parametrize("kind", ["list", "object"])
def test_a_value_nested_as_deep_as_json_goes_anywhere_is_a_call_or_a_named_error(
    place: tuple[Any, ...], kind: str
) -> None:
    # 1000 levels: orjson reads up to 1024, and `str` of such a value recurses past Python's
    # limit. The reader and the push route name the document or make a call; nothing raises.
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    deep = opening * 1000 + '"x"' + closing * 1000
    doc = member_leg()
    *outer, last = place
    holder = doc
    for key in outer:
        holder = holder[key]
    holder[last] = "@@deep@@"
    body = json.dumps(doc).replace('"@@deep@@"', deep).encode()
    report = SourceReport()
    for call in read_freeswitch(body, name="leg.json", report=report):
        row, errors = parse_call(call, LocalTimeReader(ZoneInfo("UTC")), "call")
        assert row is not None, errors
    assert all(error.field == "leg.json" for error in report.errors), report.errors
    try:
        call_from_post(body, "application/json")
    except SourceError as exc:
        assert exc.error.field == "body"


def test_decode_post_accepts_base64_without_the_field_name() -> None:
    text = json.dumps(member_leg()).encode()
    assert decode_post(base64.b64encode(text), "application/x-www-form-base64-encoded") == (
        member_leg()
    )
