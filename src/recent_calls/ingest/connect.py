"""Amazon Connect: calls from contact records (CTRs) as Kinesis or Firehose deliver them.

Records come one per line or simply concatenated; the same ContactId may come more than once
(overlapping deliveries, updates), and the one with the latest LastUpdateTimestamp wins: within
a file here, and across imports in storage, since each call carries its LastUpdateTimestamp as
its `sourceVersion`. Each record of a transfer chain is its own call; its InitialContactId is
the call's transactionId.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recent_calls.ingest.records import MAX_MS, MAX_START_MS, MIN_START_MS
from recent_calls.ingest.sources import EMPTY_CALL, SourceReport

_DECODER_LIMIT = 1024
_INBOUND = frozenset({"INBOUND", "TRANSFER", "QUEUE_TRANSFER", "CALLBACK"})
_OUTBOUND = frozenset({"OUTBOUND", "API"})
_HUNGUP = {"CUSTOMER_DISCONNECT": "Caller", "AGENT_DISCONNECT": "Agent"}


def _instant(record: Mapping[str, Any], *path: str) -> int | None:
    """An ISO 8601 timestamp of the record, in epoch ms; None when absent."""
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"{'.'.join(path)} is not an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{'.'.join(path)} is not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{'.'.join(path)} has no zone (Connect writes UTC, with Z)")
    try:
        ms = round(parsed.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise ValueError(f"{'.'.join(path)} is out of range") from None
    if not MIN_START_MS <= ms <= MAX_START_MS:
        raise ValueError(f"{'.'.join(path)} is out of range (1970-01-01 to 9999-12-30 UTC)")
    return ms


def _seconds(record: Mapping[str, Any], section: str, name: str) -> int:
    """A duration in seconds of the record, in ms; 0 when absent."""
    part = record.get(section)
    value = part.get(name) if isinstance(part, Mapping) else None
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e11:
        raise ValueError(f"{section}.{name} is not a number of seconds")
    return round(value * 1000)


def _text(record: Mapping[str, Any], *path: str) -> str:
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{'.'.join(path)} is not text")
    if "\x00" in value or len(value) > _DECODER_LIMIT:
        raise ValueError(f"{'.'.join(path)} holds a NUL or is over 1024 characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{'.'.join(path)} is not valid UTF-8 text") from None
    return value


def _instance(record: Mapping[str, Any]) -> str:
    # arn:aws:connect:REGION:ACCOUNT:instance/INSTANCE_ID[/...]
    for key in ("InstanceARN", "InstanceArn"):
        arn = _text(record, key)
        if "instance/" in arn:
            return arn.split("instance/", 1)[1].split("/", 1)[0]
    for section, key in (("Agent", "ARN"), ("Queue", "ARN")):
        arn = _text(record, section, key)
        if "instance/" in arn:
            return arn.split("instance/", 1)[1].split("/", 1)[0]
    raise ValueError("has no InstanceARN (or agent or queue ARN) naming the instance")


def contact_call(record: Any) -> tuple[str, int, dict[str, Any] | None]:
    """(ContactId, LastUpdateTimestamp ms, call or None when not a voice contact); ValueError."""
    if not isinstance(record, Mapping):
        raise ValueError("is not a JSON object (one contact record)")
    contact = _text(record, "ContactId").strip()
    if not contact:
        raise ValueError("has no ContactId")
    version = _instant(record, "LastUpdateTimestamp")
    updated = version or 0
    channel = _text(record, "Channel")
    if channel and channel != "VOICE":
        return contact, updated, None
    instance = _instance(record)
    if len(instance) + len(contact) > 250:
        raise ValueError("the instance id and ContactId together are over 250 characters")
    start = _instant(record, "InitiationTimestamp")
    if start is None:
        raise ValueError("has no InitiationTimestamp")
    end = _instant(record, "DisconnectTimestamp")
    call = dict(EMPTY_CALL)
    call["callId"] = f"{instance}:{contact}"
    call["startTime"] = start
    call["callDuration"] = max(end - start, 0) if end is not None else 0
    queue = record.get("Queue")
    agent = record.get("Agent")
    has_queue = isinstance(queue, Mapping) and bool(queue)
    has_agent = isinstance(agent, Mapping) and bool(agent)
    call["callSubType"] = "Queued" if has_queue else "No Queue"
    if has_queue:
        enqueued = _instant(record, "Queue", "EnqueueTimestamp")
        system = _instant(record, "ConnectedToSystemTimestamp")
        if enqueued is not None and system is not None:
            call["timeInIVR"] = max(enqueued - system, 0)
        wait = _seconds(record, "Queue", "Duration")
        call["waitTime"] = wait
        if _instant(record, "Agent", "ConnectedToAgentTimestamp") is None:
            call["abandonTime"] = wait
        call["queueId"] = _text(record, "Queue", "Name")
    if has_agent:
        talk = _seconds(record, "Agent", "AgentInteractionDuration")
        hold = _seconds(record, "Agent", "CustomerHoldDuration")
        call["agentCallHandlingDuration"] = talk + hold
        call["holdDuration"] = hold
        call["maximumHoldDuration"] = _seconds(record, "Agent", "LongestHoldDuration")
        holds = agent.get("NumberOfHolds") if isinstance(agent, Mapping) else None
        if holds is not None:
            if isinstance(holds, bool) or not isinstance(holds, int) or not 0 <= holds <= 10**6:
                raise ValueError("Agent.NumberOfHolds is not a count")
            call["agentHoldCount"] = holds
        call["agentId"] = _text(record, "Agent", "Username")
        call["agentGroup"] = _lowest_group(agent)
    call["transferCount"] = 1 if _instant(record, "TransferCompletedTimestamp") else 0
    method = _text(record, "InitiationMethod")
    outbound = method in _OUTBOUND
    call["callType"] = "Outbound" if outbound else "Inbound"
    customer = _text(record, "CustomerEndpoint", "Address")
    system_address = _text(record, "SystemEndpoint", "Address")
    call["callerNumber"] = call["callerPhoneNumber"] = customer
    if outbound:
        call["destinationNumber"] = customer
        call["dialedNumber"] = system_address
    else:
        call["dialedNumber"] = system_address
    call["transactionId"] = _text(record, "InitialContactId").strip() or contact
    call["hungupBy"] = _HUNGUP.get(_text(record, "DisconnectReason"), "System")
    # Storage keeps a stored call whose version is newer than this one's (a record without a
    # LastUpdateTimestamp has none, and replaces whatever is stored, as a JSON line does).
    call["sourceVersion"] = version
    for key in ("callDuration", "waitTime", "agentCallHandlingDuration", "holdDuration"):
        if call[key] > MAX_MS:
            raise ValueError(f"{key} would be over {MAX_MS} ms")
    return contact, updated, call


def _lowest_group(agent: Any) -> str:
    groups = agent.get("HierarchyGroups") if isinstance(agent, Mapping) else None
    if not isinstance(groups, Mapping):
        return ""
    for level in ("Level5", "Level4", "Level3", "Level2", "Level1"):
        group = groups.get(level)
        if isinstance(group, Mapping) and group.get("GroupName"):
            return _text(group, "GroupName")
    return ""


def read_connect(
    data: bytes | str, *, name: str = "", report: SourceReport | None = None
) -> list[dict[str, Any]]:
    """The calls of a file of contact records, the latest update of each ContactId winning."""
    report = report if report is not None else SourceReport()
    text = data.decode("utf-8", errors="surrogateescape") if isinstance(data, bytes) else data
    prefix = f"{name} " if name else ""
    latest: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for line, record in _records(text, prefix, report):
        report.lines += 1
        try:
            contact, updated, call = contact_call(record)
        except ValueError as exc:
            report.fail(f"{prefix}line {line}", str(exc))
            continue
        seen = latest.get(contact)
        if seen is not None:
            report.skipped += 1
            if seen[0] > updated:
                continue
        latest[contact] = (updated, call)
    calls = [call for _, call in latest.values() if call is not None]
    report.skipped += sum(1 for _, call in latest.values() if call is None)
    report.calls += len(calls)
    return calls


_SPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


def _records(text: str, prefix: str, report: SourceReport) -> list[tuple[int, Any]]:
    """Each JSON value of the text with the line it starts on: one per line, or concatenated."""
    out: list[tuple[int, Any]] = []
    pos, end, line = 0, len(text), 1
    space = _SPACE.match
    while True:
        skipped = space(text, pos)
        stop = skipped.end() if skipped else pos
        line += text.count("\n", pos, stop)
        pos = stop
        if pos >= end:
            return out
        try:
            value, stop = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:  # past Python's 4300 digits: ValueError
            if isinstance(exc, json.JSONDecodeError):
                reason = exc.msg
            elif isinstance(exc, RecursionError):
                reason = "nested too deeply"
            else:
                reason = "a number of more than 4300 digits"
            report.fail(f"{prefix}line {line}", f"is not valid JSON ({reason})")
            # Read on from the next line: a damaged record ends where its line does.
            newline = text.find("\n", pos)
            stop = end if newline < 0 else newline
        else:
            out.append((line, value))
        line += text.count("\n", pos, stop)
        pos = stop
