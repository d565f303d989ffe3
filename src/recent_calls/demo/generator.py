"""Seeded demo calls: a reproducible, realistic stream of one tenant's calls in the import shape.

The stream is built in two steps. A roster (agents, agent groups, queues, channels, regular
callers; `roster`) is drawn from the seed; then `count` start times are drawn in order from an
arrival rate (`plan`) that follows business hours, the time of day, the day of the week and a
random busyness per day, and each call's story (IVR, queue, abandon or agents, transfers, holds,
mutes) is drawn at its start time. Nothing grows with `count`: the rate table is per 15 minutes
of the window, and the start times come out sorted without being stored (sequential order
statistics).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from datetime import date
from math import exp, expm1, log
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

from recent_calls.demo.plan import MIXED, OPEN, Plan, Z, draw_plan, utc_offset
from recent_calls.demo.roster import RosterTables, draw_roster, new_caller, region_of

_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Lognormal factors with median 1, as 4096 quantiles: a table lookup instead of gauss() + exp().
_LN_NARROW = tuple(exp(0.45 * z) for z in Z)
_LN_WIDE = tuple(exp(0.8 * z) for z in Z)

_HH_MM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
_COLON_SS = tuple(f":{s:02d}" for s in range(60))
_URL_SAFE = bytes.maketrans(b"+/", b"-_")

_SURVEYS = tuple(
    (
        '[{"question":"How satisfied were you with your call today?","answer":"'
        + str(score)
        + '"},{"question":"Did we resolve your issue?","answer":"'
        + resolved
        + '"}]',
        str(score * 20 - (0 if resolved == "Yes" else 10)),
    )
    for score in (1, 2, 3, 4, 5, 5, 4, 5)
    for resolved in ("Yes", "No")
    if not (score >= 4 and resolved == "No")
)


def generate_calls(
    tenant_id: str,
    count: int,
    *,
    seed: int,
    end_ms: int,
    days: int = 90,
    timezone: str = "America/New_York",
) -> Iterator[dict[str, Any]]:
    """`count` calls of one tenant spread over the `days` days before end_ms, oldest first."""
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    if days < 1:
        raise ValueError(f"days must be >= 1, not {days}")
    start_ms = end_ms - days * _DAY_MS
    if start_ms < 0:
        raise ValueError("the window must start after 1970-01-01")
    tz = ZoneInfo(timezone)
    # String seeds go through SHA-512, so streams do not depend on PYTHONHASHSEED; the tenant
    # in the seed gives each tenant of one seed its own roster and calls.
    roster = draw_roster(Random(f"roster:{seed}:{tenant_id}"), region_of(tenant_id, timezone))
    plan = draw_plan(Random(f"days:{seed}:{tenant_id}"), tz, start_ms, end_ms)
    return _calls(Random(f"calls:{seed}:{tenant_id}"), roster, plan, tz, tenant_id, count)


def _calls(
    rng: Random, roster: RosterTables, plan: Plan, tz: ZoneInfo, tenant_id: str, count: int
) -> Iterator[dict[str, Any]]:
    """The calls themselves; written for speed, so everything hot is a local name."""
    r = rng.random
    getrandbits = rng.getrandbits
    b2a = binascii.b2a_base64
    url_safe = _URL_SAFE
    ln_narrow, ln_wide = _LN_NARROW, _LN_WIDE
    hh_mm, colon_ss = _HH_MM, _COLON_SS
    open_table = OPEN
    surveys = _SURVEYS
    n_surveys = len(surveys)

    agent_ids, agent_group = roster.agent_ids, roster.agent_group
    agent_speed, agent_hold, agent_mute = roster.agent_speed, roster.agent_hold, roster.agent_mute
    n_agents = len(agent_ids)
    queue_ids, queue_agents = roster.queue_ids, roster.queue_agents
    queue_handle, queue_wait, queue_transfer = (
        roster.queue_handle_ms,
        roster.queue_wait_ms,
        roster.queue_transfer,
    )
    n_queues = len(queue_ids)
    outbound_queue = roster.outbound_queue
    channels, channel_table, channel_queues = (
        roster.channels,
        roster.channel_table,
        roster.channel_queues,
    )
    n_channel_table = len(channel_table)
    regulars = roster.regulars
    n_regulars = len(regulars)
    e164, national = roster.e164_prefix, roster.national_prefix
    cut = len(national)
    ivr_median, patience_mean = roster.ivr_ms, roster.patience_ms
    phone_suffix = "-phone-00-" + tenant_id

    starts, cumulative, offsets, wait_scales = (
        plan.starts,
        plan.cumulative,
        plan.offsets,
        plan.wait_scale,
    )
    last_bucket = len(offsets) - 1
    total = cumulative[-1]

    # The first transaction id of the window; ids then rise with every call leg.
    transaction = 1000 + int(r() * 8000)

    k = -1
    bucket_start = bucket_end = 0
    bucket_base = ms_per_unit = 0.0
    offset = 0
    wait_scale = 1.0
    day = -1
    date_prefix = ""
    open_row = open_table[0]

    x = 0.0
    for remaining in range(count, 0, -1):
        # The next of `remaining` sorted uniforms on [x, 1): the minimum of that many draws.
        x += (1.0 - x) * -expm1(log(1.0 - r()) / remaining)
        v = x * total
        if k < 0 or (k < last_bucket and cumulative[k + 1] <= v):
            k = max(k, 0)
            while k < last_bucket and cumulative[k + 1] <= v:
                k += 1
            bucket_start, bucket_end = starts[k], starts[k + 1]
            bucket_base = cumulative[k]
            ms_per_unit = (bucket_end - bucket_start) / (cumulative[k + 1] - bucket_base)
            offset = offsets[k]
            wait_scale = wait_scales[k]
        start = bucket_start + int((v - bucket_base) * ms_per_unit)
        if start >= bucket_end:
            start = bucket_end - 1

        seconds = start // 1000
        local = seconds + (offset if offset != MIXED else utc_offset(tz, seconds))
        local_day, second_of_day = divmod(local, 86400)
        if local_day != day:
            day = local_day
            on = date.fromordinal(day + _EPOCH_ORDINAL)
            date_prefix = f"{on.month:02d}/{on.day:02d}/{on.year} "
            open_row = open_table[(day + 3) % 7]
        clock = hh_mm[second_of_day // 60] + colon_ss[second_of_day % 60]
        is_open = open_row[second_of_day // 900]

        # Who is calling: a regular, or someone new.
        if r() < 0.4:
            caller_name, caller_number = regulars[int(n_regulars * r() * r())]
        else:
            caller_name, caller_number = new_caller(rng, roster)
        caller_phone = caller_number
        if caller_number and r() < 0.04:
            # Some trunks present the number in international form.
            caller_phone = e164 + caller_number[cut:]

        channel = channel_table[int(r() * n_channel_table)]
        ivr = wait = handling = slack = abandon = 0
        hold = max_hold = holds = mute = mutes = transfers = 0
        queue_text = agent_text = group_text = destination = ""
        survey, score = "[]", ""
        transaction += 1 + int(r() * 3)
        transaction_text = str(transaction)
        call_type = "Inbound"

        u = r()
        if is_open and u < 0.07:
            # An agent dials out through the outbound queue.
            call_type, sub_type = "Outbound", "Agent Dial"
            agent = int(r() * n_agents)
            queue_text, agent_text, group_text = (
                outbound_queue,
                agent_ids[agent],
                agent_group[agent],
            )
            while not caller_number:
                # Nobody dials a withheld number: the agent calls someone else.
                caller_name, caller_number = new_caller(rng, roster)
                caller_phone = caller_number
            destination = caller_number
            slack = 4000 + int(r() * 20000)  # dialling and ringing
            handling = 20_000 + int(150_000 * agent_speed[agent] * ln_wide[getrandbits(12)])
            hungup = "Agent" if r() < 0.6 else "Caller"
            if r() < agent_hold[agent] * 0.5:
                holds = 1
                hold = max_hold = int(handling * 0.3 * r()) + 1000
        elif u < (0.17 if is_open else 0.8):
            # Ends in the IVR: self-service, a wrong number, or the after-hours message.
            sub_type = "No Queue"
            ivr = 4000 + int(ivr_median * 1.5 * ln_wide[getrandbits(12)])
            slack = int(r() * 800)
            if is_open:
                hungup = "Caller" if r() < 0.8 else "System"
            else:
                hungup = "System" if r() < 0.75 else "Caller"
        else:
            sub_type = "Queued"
            ivr = 3000 + int(ivr_median * ln_narrow[getrandbits(12)])
            if r() < 0.1:
                # Callers who must identify themselves first spend longer in the IVR.
                sub_type = "Verification"
                ivr += 20_000 + int(25_000 * ln_narrow[getrandbits(12)])
                transaction += 1
                transaction_text += " " + str(transaction)
            channel_queue = channel_queues[channel]
            queue = channel_queue[int(r() * len(channel_queue))]
            wait = int(-log(1.0 - r()) * queue_wait[queue] * wait_scale)
            patience = 2000 + int(-log(1.0 - r()) * patience_mean)
            if patience < wait:
                # The caller gives up in the queue before an agent answers.
                wait = abandon = patience
                slack = int(r() * 500)
                queue_text = queue_ids[queue]
                hungup = "Caller"
            else:
                queues = [queue]
                agents: list[int] = []
                while True:
                    pool = queue_agents[queue]
                    agent = pool[int(r() * len(pool))]
                    while agent in agents:
                        agent = pool[(pool.index(agent) + 1) % len(pool)]
                    agents.append(agent)
                    leg = 15_000 + int(
                        queue_handle[queue] * agent_speed[agent] * ln_wide[getrandbits(12)]
                    )
                    handling += leg
                    slack += 1500 + int(r() * 6000)  # ringing at the agent
                    if r() < agent_hold[agent]:
                        # Up to three holds; together at most half of this agent's talk.
                        n = 1 + (r() < 0.3) + (r() < 0.1)
                        leg_hold = leg_max = 0
                        for _ in range(n):
                            one = 3000 + int(-log(1.0 - r()) * 40_000)
                            leg_hold += one
                            leg_max = max(leg_max, one)
                        if leg_hold > leg // 2:
                            scale = (leg // 2) / leg_hold
                            leg_hold, leg_max = int(leg_hold * scale), int(leg_max * scale)
                        holds += n
                        hold += leg_hold
                        max_hold = max(max_hold, leg_max)
                    if r() < agent_mute[agent]:
                        n = 1 + (r() < 0.25)
                        mutes += n
                        mute += min(n * (1000 + int(-log(1.0 - r()) * 12_000)), leg // 4)
                    if transfers >= 3 or r() >= queue_transfer[queue]:
                        break
                    # A transfer to another queue: a new wait, a new agent, a new transaction.
                    transfers += 1
                    queue = (queue + 1 + int(r() * (n_queues - 1))) % n_queues
                    while queue in queues:
                        queue = (queue + 1) % n_queues
                    queues.append(queue)
                    wait += int(-log(1.0 - r()) * queue_wait[queue] * wait_scale * 0.5)
                    transaction += 1 + int(r() * 6)
                    transaction_text += " " + str(transaction)
                if transfers:
                    queue_text = ",".join([queue_ids[q] for q in queues])
                    agent_text = ",".join([agent_ids[a] for a in agents])
                    group_text = ",".join(dict.fromkeys([agent_group[a] for a in agents]))
                else:
                    queue_text = queue_ids[queue]
                    agent_text = agent_ids[agents[0]]
                    group_text = agent_group[agents[0]]
                if r() < 0.07:
                    # A consultation or a re-queue leaves an extra transaction on the call.
                    transaction += 1 + int(r() * 8)
                    transaction_text += " " + str(transaction)
                hungup = "Agent" if r() < 0.42 else "Caller"
                if r() < 0.06:
                    survey, score = surveys[int(r() * n_surveys)]

        token = b2a(getrandbits(144).to_bytes(18), newline=False).translate(url_safe)[:23].decode()
        yield {
            "callDuration": str(ivr + wait + handling + slack),
            "queueId": queue_text,
            "agentCallHandlingDuration": f"{handling}.0",
            "callDate": date_prefix + clock,
            "agentId": agent_text,
            "muteDuration": mute,
            "scheduleHours": "Open" if is_open else "Closed",
            "timeInIVR": f"{ivr}.0",
            "agentGroup": group_text,
            "transferCount": f"{transfers}.0",
            "postCallSurvey": survey,
            "callType": call_type,
            "callerName": caller_name,
            "dialedNumber": channels[channel],
            "callDateOnly": date_prefix[:10],
            "hungupBy": hungup,
            "holdDuration": f"{hold}.0",
            "voiceComment": "{}",
            "callId": f"int-{start:x}-{token}{phone_suffix}",
            "abandonTime": f"{abandon}.0",
            "callerNumber": caller_number,
            "callSubType": sub_type,
            "totalScore": score,
            "transactionId": transaction_text,
            "destinationNumber": destination,
            "voiceCommentFileNames": "",
            "tenantId": tenant_id,
            "maximumHoldDuration": f"{max_hold}.0",
            "waitTime": f"{wait}.0",
            "callTime": clock,
            "callerPhoneNumber": caller_phone,
            "startTime": start,
            "agentHoldCount": holds,
            "agentMuteCount": mutes,
        }
