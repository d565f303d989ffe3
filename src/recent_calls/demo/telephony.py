"""Demo calls written as telephony would have logged them: Asterisk, FreeSWITCH, Amazon Connect.

Each writer takes calls from `generate_calls` and writes what the source would have written for
them, at the source's own resolution (Asterisk and Connect count whole seconds). Reading the
files back with the readers in `recent_calls.ingest` gives the calls again in every field the
source carries (see `carried`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo


def _ms(call: dict[str, Any], name: str) -> int:
    return int(float(call[name]))


def _split(total: int, parts: int) -> list[int]:
    # `total` in `parts` whole shares that add up to it, the first taking the remainder.
    share = total // parts
    return [total - share * (parts - 1)] + [share] * (parts - 1)


def _seconds(ms: int) -> int:
    return (ms + 500) // 1000


def _holds(call: dict[str, Any], scale: int) -> list[int]:
    # The call's holds as single durations (in 1/scale s): the longest, then equal shares.
    count = int(call["agentHoldCount"])
    if not count:
        return []
    longest = _ms(call, "maximumHoldDuration") * scale // 1000
    total = _ms(call, "holdDuration") * scale // 1000
    if count == 1:
        return [total]
    return [longest, *_split(max(total - longest, 0), count - 1)]


# Asterisk -----------------------------------------------------------------------------------


def write_asterisk(
    calls: Iterable[dict[str, Any]],
    queue_log: IO[str],
    master_csv: IO[str] | None,
    *,
    timezone: str = "UTC",
) -> int:
    """Write the calls as a queue_log (newest forms) and a Master.csv (21 columns); the count."""
    tz = ZoneInfo(timezone)
    pending: list[tuple[int, int, str]] = []  # the lines of calls still going, by time
    seq = 0
    count = 0
    for number, call in enumerate(calls):
        count += 1
        start = call["startTime"] // 1000
        while pending and pending[0][0] < start:
            queue_log.write(heapq.heappop(pending)[2])
        uid = f"{start}.{number}"
        lines, end = _queue_log_lines(call, uid, start)
        for t, text in lines:
            seq += 1
            heapq.heappush(pending, (t, seq, text))
        if master_csv is not None:
            master_csv.writelines(map(_cdr_csv_line, _cdr_rows(call, uid, start, end, tz)))
    while pending:
        queue_log.write(heapq.heappop(pending)[2])
    return count


def _queue_log_lines(
    call: dict[str, Any], uid: str, start: int
) -> tuple[list[tuple[int, str]], int]:
    end = (call["startTime"] + _ms(call, "callDuration")) // 1000
    if call["callSubType"] not in ("Queued", "Verification"):
        return [], end
    number, name = call["callerPhoneNumber"], call["callerName"]
    queues = call["queueId"].split(",")
    t = start + _seconds(_ms(call, "timeInIVR"))
    lines = []
    if call["dialedNumber"]:
        lines.append((start, f"{start}|{uid}|NONE|NONE|DID|{call['dialedNumber']}\n"))
    wait = _seconds(_ms(call, "waitTime"))
    if _ms(call, "abandonTime"):
        q = queues[0]
        lines.append((t, f"{t}|{uid}|{q}|NONE|ENTERQUEUE||{number}|1|{name}\n"))
        lines.append((t + wait, f"{t + wait}|{uid}|{q}|NONE|ABANDON|1|1|{wait}\n"))
        return lines, max(end, t + wait)
    agents = call["agentId"].split(",")
    legs = len(queues)
    waits = _split(wait, legs)
    handlings = _split(_seconds(_ms(call, "agentCallHandlingDuration")), legs)
    holds = _holds(call, 1)
    for leg, (queue, agent) in enumerate(zip(queues, agents, strict=True)):
        w, h = waits[leg], handlings[leg]
        lines.append((t, f"{t}|{uid}|{queue}|NONE|ENTERQUEUE||{number}|1|{name}\n"))
        lines.append((t + w, f"{t + w}|{uid}|{queue}|{agent}|RINGNOANSWER|1000\n"))
        t += w
        lines.append((t, f"{t}|{uid}|{queue}|{agent}|CONNECT|{w}|{uid}1|1\n"))
        if leg == 0:
            on = t
            for held in holds:  # one after another from the answer: within the handling
                lines.append((on, f"{on}|{uid}|{queue}|{agent}|CALLERONHOLD|\n"))
                lines.append((on + held, f"{on + held}|{uid}|{queue}|{agent}|CALLEROFFHOLD|\n"))
                on += held
        t += h
        if leg < legs - 1:
            event = f"ATTENDEDTRANSFER|BRIDGE|{uid}-bridge|{w}|{h}|1"
        elif call["hungupBy"] == "Agent":
            event = f"COMPLETEAGENT|{w}|{h}|1"
        else:
            event = f"COMPLETECALLER|{w}|{h}|1"
        lines.append((t, f"{t}|{uid}|{queue}|{agent}|{event}\n"))
    return lines, max(end, t)


def _local(seconds: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%d %H:%M:%S")


def _cdr_csv_line(row: list[str | int]) -> str:
    """A Master.csv line as cdr_csv writes it: text quoted (its quotes doubled), and duration,
    billsec and sequence, which it writes with `append_int`, bare."""
    return (
        ",".join(
            str(value) if isinstance(value, int) else '"' + value.replace('"', '""') + '"'
            for value in row
        )
        + "\n"
    )


def _cdr_rows(
    call: dict[str, Any], uid: str, start: int, end: int, tz: ZoneInfo
) -> list[list[str | int]]:
    sub = call["callSubType"]
    number, name = call["callerPhoneNumber"], call["callerName"]
    clid = f'"{name}" <{number}>' if name else number
    duration = end - start
    if sub == "Agent Dial":
        billsec = _seconds(_ms(call, "agentCallHandlingDuration"))
        agent, number = call["agentId"], call["destinationNumber"]
        return [
            [
                "", agent, number, "from-internal", agent, f"PJSIP/{agent}-00000001",
                "PJSIP/trunk-00000002", "Dial", f"PJSIP/{number}@trunk", _local(start, tz),
                _local(end - billsec, tz), _local(end, tz), duration, billsec,
                "ANSWERED", "DOCUMENTATION", uid, "", "", uid, 1,
            ]
        ]  # fmt: skip
    app = "Queue" if sub in ("Queued", "Verification") else "Playback"
    rows = [
        [
            "", number, call["dialedNumber"], "from-pstn", clid, "PJSIP/trunk-00000001", "",
            app, "", _local(start, tz), _local(start, tz), _local(end, tz), duration,
            duration, "ANSWERED", "DOCUMENTATION", uid, "", "", uid, 1,
        ]
    ]  # fmt: skip
    if app == "Queue" and call["agentId"]:
        agent = call["agentId"].split(",")[0]
        rows.append(
            [
                "", number, agent, "from-queue", clid, f"Local/{agent}@from-queue-00000003;1",
                f"PJSIP/{agent}-00000004", "Dial", "", _local(start, tz), _local(start, tz),
                _local(end, tz), 0, 0, "ANSWERED", "DOCUMENTATION", f"{uid}9", "", "",
                uid, 2,
            ]
        )  # fmt: skip
    return rows


# FreeSWITCH ---------------------------------------------------------------------------------


def _uuid(call: dict[str, Any], leg: str) -> str:
    # A uuid-shaped id drawn from the demo call's id, so each leg's is stable.
    digest = hashlib.blake2b(f"{call['callId']}/{leg}".encode(), digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def freeswitch_legs(
    call: dict[str, Any], *, switchname: str = "fs1", encode_values: bool = True
) -> list[dict[str, Any]]:
    """The mod_json_cdr documents of one demo call: its member (or only) leg, and agent legs."""
    start_us = call["startTime"] * 1000
    start_s = call["startTime"] // 1000
    duration = _ms(call, "callDuration")
    handling = _ms(call, "agentCallHandlingDuration")
    sub = call["callSubType"]
    uuid = _uuid(call, "caller")
    outbound = call["callType"] == "Outbound"
    variables: dict[str, str] = {
        "uuid": uuid,
        "direction": "outbound" if outbound else "inbound",
        "start_epoch": str(start_s),
        "start_uepoch": str(start_us),
        "end_epoch": str((call["startTime"] + duration) // 1000),
        "duration": str(duration // 1000),
        "mduration": str(duration),
        "sip_hangup_disposition": "send_bye" if call["hungupBy"] == "Agent" else "recv_bye",
    }
    if outbound:
        number, dialed = call["dialedNumber"], call["callerNumber"]
    else:
        number, dialed = call["callerPhoneNumber"], call["dialedNumber"]
    profile = {
        "caller_id_name": "" if outbound else call["callerName"],
        "caller_id_number": number,
        "destination_number": dialed,
        "uuid": uuid,
    }
    flow = [{"profile_index": "1", "caller_profile": profile, "times": {}}]
    legs = []
    agents = [agent for agent in call["agentId"].split(",") if agent]
    if sub in ("Queued", "Verification"):
        queues = call["queueId"].split(",")
        joined = start_s + _seconds(_ms(call, "timeInIVR"))
        left = joined + _seconds(_ms(call, "waitTime"))
        variables.update(
            cc_side="member",
            cc_queue=queues[0],
            cc_member_uuid=_uuid(call, "member"),
            cc_queue_joined_epoch=str(joined),
        )
        if _ms(call, "abandonTime"):
            variables.update(
                cc_cause="cancel", cc_cancel_reason="BREAK_OUT", cc_queue_canceled_epoch=str(left)
            )
        else:
            variables.update(
                cc_cause="answered",
                cc_agent=agents[0],
                cc_queue_answered_epoch=str(left),
                cc_queue_terminated_epoch=str(left + _seconds(handling)),
                bridge_uuid=_uuid(call, "agent0"),
            )
    elif agents:  # an agent's own call out
        variables.update(last_bridge_to=_uuid(call, "agent0"), billmsec=str(handling))
    else:
        variables["billmsec"] = str(duration)
    holds = _holds(call, 1_000_000)
    if holds:
        on = start_us
        pairs = []
        for held in holds:
            pairs.append(f"{{{on},{on + held}}}")
            on += held + 1_000_000
        variables["hold_events"] = "{" + ",".join(pairs) + "}"
        variables["hold_accum_ms"] = str(_ms(call, "holdDuration"))
    transfers = int(float(call["transferCount"]))
    if transfers:
        entries = [f"{start_s}:{_uuid(call, f'x{n}')}:att_xfer:{n}" for n in range(transfers)]
        variables["transfer_history"] = "ARRAY::" + "|:".join(entries)
        for n in range(transfers):  # later profiles follow the transfers
            later = dict(profile, destination_number=f"transfer-{n}")
            flow.append({"profile_index": str(n + 2), "caller_profile": later, "times": {}})
    if encode_values:
        variables = {name: quote(value, safe="") for name, value in variables.items()}
    channel = {"state": "CS_REPORTING", "direction": variables["direction"]}
    legs.append(
        {
            "core-uuid": "c0de0000-0000-4000-8000-000000000001",
            "switchname": switchname,
            "channel_data": channel,
            "variables": variables,
            "callflow": flow[::-1],  # mod_json_cdr writes the latest profile first
        }
    )
    for n, agent in enumerate(agents if sub in ("Queued", "Verification") else []):
        agent_vars = {
            "uuid": _uuid(call, f"agent{n}"),
            "direction": "outbound",
            "cc_side": "agent",
            "cc_agent": agent,
            "start_uepoch": str(start_us),
            "mduration": "0",
        }
        if encode_values:
            agent_vars = {name: quote(value, safe="") for name, value in agent_vars.items()}
        legs.append(
            {
                "core-uuid": "c0de0000-0000-4000-8000-000000000001",
                "switchname": switchname,
                "channel_data": {"direction": "outbound"},
                "variables": agent_vars,
                "callflow": [],
            }
        )
    return legs


def write_freeswitch(
    calls: Iterable[dict[str, Any]],
    folder: Path,
    *,
    switchname: str = "fs1",
    encode_values: bool = True,
    write: Callable[[Path, bytes], object] = Path.write_bytes,
) -> int:
    """Write each leg of the calls as its own `<uuid>.cdr.json`, as mod_json_cdr's log-dir does
    (each file by `write`: the command line's writes no file through a planted link)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for call in calls:
        count += 1
        for leg in freeswitch_legs(call, switchname=switchname, encode_values=encode_values):
            name = unquote(leg["variables"]["uuid"])
            write(folder / f"{name}.cdr.json", json.dumps(leg, ensure_ascii=False).encode())
    return count


# Amazon Connect -----------------------------------------------------------------------------

CONNECT_INSTANCE = (
    "arn:aws:connect:us-east-1:123456789012:instance/5a1b2c3d-0000-4000-8000-00000000d3e0"
)
_DISCONNECT = {"Caller": "CUSTOMER_DISCONNECT", "Agent": "AGENT_DISCONNECT"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect_records(call: dict[str, Any]) -> list[dict[str, Any]]:
    """The contact records of one demo call: one per leg of its transfer chain."""
    start = call["startTime"] // 1000 * 1000
    end = call["startTime"] + _ms(call, "callDuration")
    queues = [queue for queue in call["queueId"].split(",") if queue]
    agents = [agent for agent in call["agentId"].split(",") if agent]
    groups = [group for group in call["agentGroup"].split(",") if group]
    legs = max(len(queues), 1)
    waits = _split(_seconds(_ms(call, "waitTime")), legs)
    handlings = _split(_seconds(_ms(call, "agentCallHandlingDuration")), legs)
    outbound = call["callType"] == "Outbound"
    ids = [_uuid(call, f"contact{n}") for n in range(legs)]
    t = start + _seconds(_ms(call, "timeInIVR")) * 1000
    records = []
    for leg in range(legs):
        record: dict[str, Any] = {
            "AWSAccountId": "123456789012",
            "InstanceARN": CONNECT_INSTANCE,
            "ContactId": ids[leg],
            "Channel": "VOICE",
            "InitiationMethod": "OUTBOUND" if outbound else ("TRANSFER" if leg else "INBOUND"),
            "InitiationTimestamp": _iso(start if leg == 0 else t),
            "ConnectedToSystemTimestamp": _iso(start if leg == 0 else t),
            "CustomerEndpoint": {"Address": call["callerPhoneNumber"], "Type": "TELEPHONE_NUMBER"},
            "SystemEndpoint": {"Address": call["dialedNumber"], "Type": "TELEPHONE_NUMBER"},
            "DisconnectReason": _DISCONNECT.get(call["hungupBy"], "CONTACT_FLOW_DISCONNECT"),
            "Attributes": {},
        }
        if leg:
            record["PreviousContactId"] = ids[leg - 1]
            record["InitialContactId"] = ids[0]
        if queues:
            wait = waits[leg] * 1000
            record["Queue"] = {
                "Name": queues[leg],
                "ARN": f"{CONNECT_INSTANCE}/queue/{queues[leg]}",
                "EnqueueTimestamp": _iso(t),
                "DequeueTimestamp": _iso(t + wait),
                "Duration": waits[leg],
            }
            t += wait
        if agents:
            holds = _holds(call, 1) if leg == 0 else []
            handling = handlings[leg]
            record["Agent"] = {
                "Username": agents[leg],
                "ARN": f"{CONNECT_INSTANCE}/agent/{agents[leg]}",
                "ConnectedToAgentTimestamp": _iso(t),
                "AgentInteractionDuration": handling - sum(holds),
                "CustomerHoldDuration": sum(holds),
                "LongestHoldDuration": max(holds, default=0),
                "NumberOfHolds": len(holds),
                "HierarchyGroups": {
                    "Level1": {"GroupName": "All agents"},
                    "Level2": {"GroupName": groups[min(leg, len(groups) - 1)]},
                },
            }
            t += handling * 1000
        last = leg == legs - 1
        if not last:
            record["TransferCompletedTimestamp"] = _iso(t)
        record["DisconnectTimestamp"] = _iso(max(end, t) if last else t)
        record["LastUpdateTimestamp"] = _iso(max(end, t) + 60_000)
        records.append(record)
    return records


def write_connect(calls: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write the calls' contact records, one per line; every seventh call is delivered twice,
    first in an earlier state, as overlapping deliveries do."""
    count = 0
    for number, call in enumerate(calls):
        count += 1
        for record in connect_records(call):
            if number % 7 == 3:
                stale = dict(record, LastUpdateTimestamp=_iso(call["startTime"]))
                stale.pop("Agent", None)
                stale["DisconnectReason"] = "OTHER"
                out.write(json.dumps(stale, ensure_ascii=False) + "\n")
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count
