"""FreeSWITCH: calls from mod_json_cdr's JSON CDRs, with mod_callcenter's variables.

A document is one call leg. The member leg (`cc_side` member) is the queued call, a leg with no
`cc_side` a call that never reached a queue; agent legs are acknowledged and not stored (the
member leg holds all they hold). `decode_post` reads what mod_json_cdr POSTs, in its three
encodings, for the HTTP receiver.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from recent_calls.ingest.records import MAX_MS, MAX_START_MS, MIN_START_MS
from recent_calls.ingest.sources import EMPTY_CALL, SourceError, SourceReport

_MAX_TEXT = 1024


class _Leg:
    """One leg's variables, read as mod_json_cdr wrote them (URL-encoded with encode-values)."""

    def __init__(self, variables: Mapping[str, Any], encoded: bool) -> None:
        self.variables = variables
        self.encoded = encoded

    def text(self, name: str) -> str:
        value = self.variables.get(name)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"variables.{name} is not text")
        value = str(value)
        if self.encoded and "%" in value:
            value = unquote(value, errors="strict")
        return _checked(value, f"variables.{name}")

    def number(self, name: str) -> int | None:
        """A whole-number variable, or None when absent or blank (mod_callcenter writes 0)."""
        value = self.text(name).strip()
        if not value:
            return None
        if not (value.isdigit() and value.isascii()) or len(value) > 19:
            raise ValueError(f"variables.{name} is not a whole number: {value[:40]!r}")
        return int(value)


def _checked(value: str, name: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")
    if len(value) > _MAX_TEXT:
        raise ValueError(f"{name} is over {_MAX_TEXT} characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{name} is not valid UTF-8 text") from None
    return value


def _caller_profile(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    # The call's first profile (lowest profile_index); later ones follow transfers.
    flow = doc.get("callflow")
    if isinstance(flow, Mapping):  # older versions write a single object
        flow = [flow]
    if not isinstance(flow, list):
        return {}
    best: Mapping[str, Any] = {}
    best_index: int | None = None
    for entry in flow:
        if not isinstance(entry, Mapping):
            continue
        profile = entry.get("caller_profile")
        if not isinstance(profile, Mapping):
            continue
        given = entry.get("profile_index", "")
        # A number or its text; anything else (a list nested 1000 deep: `str` of it recurses
        # past Python's limit) is no index.
        raw = str(given).strip() if isinstance(given, str | int) else ""
        index = int(raw) if raw.isdigit() and raw.isascii() and len(raw) < 10 else 1 << 40
        if best_index is None or index < best_index:
            best, best_index = profile, index
    return best


def _profile_text(profile: Mapping[str, Any], name: str) -> str:
    value = profile.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    # Only variables are URL-encoded (encode-values); the profile is written as it is.
    return _checked(str(value), f"callflow.caller_profile.{name}")


def _hold_events(text: str) -> list[int]:
    # `{{on_usec,off_usec},{on_usec,off_usec}}`: each hold's length in microseconds.
    holds = []
    for pair in text.replace("{", " ").split("}"):
        pair = pair.strip(" ,")
        if not pair:
            continue
        on, sep, off = pair.partition(",")
        on, off = on.strip(), off.strip()
        if not sep or not (on.isdigit() and off.isdigit() and on.isascii() and off.isascii()):
            raise ValueError(f"variables.hold_events has a pair that is not {{on,off}}: {pair!r}")
        holds.append(max(int(off) - int(on), 0))
    return holds


def _transfers(text: str) -> int:
    # One entry, or `ARRAY::first|:second|:...` for several.
    text = text.strip()
    if not text:
        return 0
    if text.startswith("ARRAY::"):
        return len([entry for entry in text[7:].split("|:") if entry.strip()])
    return 1


def leg_call(doc: Any, *, encoded_values: bool = True) -> dict[str, Any] | None:
    """The call of one leg in the import shape, or None for an agent leg; ValueError if bad."""
    if not isinstance(doc, Mapping):
        raise ValueError("is not a JSON object (one mod_json_cdr document)")
    variables = doc.get("variables")
    if not isinstance(variables, Mapping):
        raise ValueError("has no variables object")
    leg = _Leg(variables, encoded_values)
    side = leg.text("cc_side")
    if side == "agent":
        return None
    uuid = leg.text("uuid").strip()
    profile = _caller_profile(doc)
    if not uuid:
        uuid = _profile_text(profile, "uuid").strip()
    if not uuid:
        raise ValueError("has no variables.uuid")
    switch = doc.get("switchname") or doc.get("core-uuid")
    if not isinstance(switch, str) or not switch.strip():
        raise ValueError("has no switchname or core-uuid")
    switch = _checked(switch.strip(), "switchname")
    if len(uuid) + len(switch) > 250:
        raise ValueError("switchname and uuid together are over 250 characters")

    start_us = leg.number("start_uepoch")
    start_s = leg.number("start_epoch")
    if start_us:
        start = start_us // 1000
    elif start_s:
        start = start_s * 1000
    else:
        raise ValueError("has no variables.start_uepoch or start_epoch")
    if start_s is None:
        start_s = start // 1000
    duration = leg.number("mduration")
    if duration is None:
        duration = (leg.number("duration") or 0) * 1000

    call = dict(EMPTY_CALL)
    call["callId"] = f"{switch}:{uuid}"
    call["startTime"] = start
    call["callDuration"] = duration

    channel = doc.get("channel_data")
    direction = channel.get("direction") if isinstance(channel, Mapping) else None
    if not isinstance(direction, str) or not direction:
        direction = leg.text("direction")
    inbound = direction == "inbound"
    call["callType"] = "Inbound" if inbound else "Outbound"

    number = _profile_text(profile, "caller_id_number")
    name = _profile_text(profile, "caller_id_name")
    dialed = _profile_text(profile, "destination_number")
    if not number:
        number = leg.text("caller_id_number")
    if not name:
        name = leg.text("caller_id_name")
    if inbound:
        call["callerNumber"] = call["callerPhoneNumber"] = number
        call["callerName"] = name
        call["dialedNumber"] = dialed
    else:
        # An outbound leg calls the customer: the number dialled is who the call was with.
        call["callerNumber"] = call["callerPhoneNumber"] = dialed
        call["destinationNumber"] = dialed
        call["dialedNumber"] = number

    agent = ""
    if side == "member":
        call["callSubType"] = "Queued"
        joined = leg.number("cc_queue_joined_epoch")
        answered = leg.number("cc_queue_answered_epoch")
        canceled = leg.number("cc_queue_canceled_epoch")
        terminated = leg.number("cc_queue_terminated_epoch")
        if joined:
            call["timeInIVR"] = max(joined - start_s, 0) * 1000
            left = answered or canceled
            wait = max(left - joined, 0) * 1000 if left else 0
            call["waitTime"] = wait
            if (
                not answered
                and leg.text("cc_cause") == "cancel"
                and leg.text("cc_cancel_reason") in ("BREAK_OUT", "NONE")
            ):
                call["abandonTime"] = wait
        if answered and terminated:
            call["agentCallHandlingDuration"] = max(terminated - answered, 0) * 1000
        call["queueId"] = leg.text("cc_queue")
        agent = leg.text("cc_agent")
        call["agentId"] = agent
    else:
        call["callSubType"] = "No Queue"
        if leg.text("last_bridge_to") or leg.text("bridge_uuid"):
            # Bridged to someone: the answered time is handling.
            agent = "bridged"
            call["agentCallHandlingDuration"] = leg.number("billmsec") or 0
        else:
            # Answered by the dialplan alone (a menu, a message): all of it is IVR.
            call["timeInIVR"] = duration

    hold_ms = leg.number("hold_accum_ms")
    if hold_ms is None:
        hold_ms = (leg.number("hold_accum_usec") or 0) // 1000
    holds = _hold_events(leg.text("hold_events"))
    call["holdDuration"] = hold_ms
    call["agentHoldCount"] = len(holds)
    call["maximumHoldDuration"] = max(holds) // 1000 if holds else 0
    call["transferCount"] = _transfers(leg.text("transfer_history"))

    _check_ranges(call)
    disposition = leg.text("sip_hangup_disposition")
    if disposition in ("recv_bye", "recv_cancel", "recv_refuse"):
        call["hungupBy"] = "Caller"
    elif disposition in ("send_bye", "send_cancel", "send_refuse"):
        call["hungupBy"] = "Agent" if agent else "System"
    return call


def _check_ranges(call: dict[str, Any]) -> None:
    if not MIN_START_MS <= call["startTime"] <= MAX_START_MS:
        raise ValueError("the start is out of range (1970-01-01 to 9999-12-30 UTC)")
    for key in _DURATIONS:
        if call[key] > MAX_MS:
            raise ValueError(f"{key} would be over {MAX_MS} ms")


_DURATIONS = (
    "callDuration",
    "agentCallHandlingDuration",
    "timeInIVR",
    "holdDuration",
    "maximumHoldDuration",
    "waitTime",
    "abandonTime",
)


def read_freeswitch(
    data: bytes | str,
    *,
    name: str,
    encoded_values: bool = True,
    report: SourceReport | None = None,
) -> list[dict[str, Any]]:
    """The calls of one file: one mod_json_cdr document, or JSON Lines of them."""
    report = report if report is not None else SourceReport()
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        whole = None
        documents: Iterable[tuple[str, Any]] = _json_lines(data, name, report)
    else:
        documents = [(name, whole)]
    calls = []
    for where, doc in documents:
        report.lines += 1
        try:
            call = leg_call(doc, encoded_values=encoded_values)
        except (ValueError, UnicodeError) as exc:
            report.fail(where, str(exc))
            continue
        if call is None:
            report.skipped += 1
        else:
            report.calls += 1
            calls.append(call)
    return calls


def _json_lines(data: bytes | str, name: str, report: SourceReport) -> Iterable[tuple[str, Any]]:
    text = data.decode("utf-8", errors="surrogateescape") if isinstance(data, bytes) else data
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            yield where, orjson.loads(line.encode("utf-8", errors="strict"))
        except UnicodeEncodeError:
            report.fail(where, "is not valid UTF-8 text")
        except orjson.JSONDecodeError as exc:
            report.fail(where, f"is not valid JSON ({exc})")


def decode_post(body: bytes, content_type: str) -> Any:
    """The JSON document of a mod_json_cdr POST, in any of its encodings; SourceError if bad.

    `application/x-www-form-urlencoded`: `cdr=<url-encoded JSON>`;
    `application/x-www-form-base64-encoded`: `cdr=<base64 JSON>`; else the JSON itself."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("ascii"), strict_parsing=False, errors="strict")
            if "cdr" not in form:
                raise SourceError("body", "has no cdr= field")
            text: bytes | str = str(form["cdr"][0])
        elif kind == "application/x-www-form-base64-encoded":
            encoded = body.strip()
            if encoded.startswith(b"cdr="):
                encoded = encoded[4:]
            text = base64.b64decode(encoded, validate=True)
        else:
            text = body
        return orjson.loads(text)
    except SourceError:
        raise
    except UnicodeError:
        raise SourceError("body", "is not ASCII form data (or not UTF-8 JSON)") from None
    except binascii.Error:
        raise SourceError("body", "cdr= is not base64") from None
    except orjson.JSONDecodeError as exc:
        raise SourceError("body", f"is not valid JSON ({exc})") from None


def call_from_post(
    body: bytes, content_type: str, *, encoded_values: bool = True
) -> dict[str, Any] | None:
    """The call a mod_json_cdr POST carries, or None for an agent leg; SourceError if bad."""
    doc = decode_post(body, content_type)
    try:
        return leg_call(doc, encoded_values=encoded_values)
    except (ValueError, UnicodeError) as exc:
        raise SourceError("body", str(exc)) from None
