"""The seeded demo generator: reproducible, in the import shape, and internally consistent."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime
from itertools import islice, pairwise
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from recent_calls.demo import DEMO_TENANTS, DemoTenant, generate_calls, roster_for
from recent_calls.ingest.records import LocalTimeReader, parse_call

END_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000

# The response `data` keys of the reference, in its order, then the import's extra keys.
DATA_KEYS = (
    "callDuration", "queueId", "agentCallHandlingDuration", "callDate", "agentId",
    "muteDuration", "scheduleHours", "timeInIVR", "agentGroup", "transferCount",
    "postCallSurvey", "callType", "callerName", "dialedNumber", "callDateOnly", "hungupBy",
    "holdDuration", "voiceComment", "callId", "abandonTime", "callerNumber", "callSubType",
    "totalScore", "transactionId", "destinationNumber", "voiceCommentFileNames", "tenantId",
    "maximumHoldDuration", "waitTime", "callTime", "callerPhoneNumber",
)  # fmt: skip
EXTRA_KEYS = ("startTime", "agentHoldCount", "agentMuteCount")
DECIMAL_KEYS = (
    "agentCallHandlingDuration", "timeInIVR", "holdDuration", "maximumHoldDuration",
    "waitTime", "abandonTime", "transferCount",
)  # fmt: skip
INT_KEYS = ("muteDuration", "startTime", "agentHoldCount", "agentMuteCount")

# Local opening hours: weekday (Monday = 0) -> (first minute, minute after the last).
OPENING_HOURS = {d: (8 * 60, 20 * 60) for d in range(5)} | {5: (9 * 60, 13 * 60)}

US = DEMO_TENANTS[0]
UK = DEMO_TENANTS[1]


def calls_of(tenant: DemoTenant, count: int, seed: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("end_ms", END_MS)
    kwargs.setdefault("timezone", tenant.timezone)
    return list(generate_calls(tenant.tenant_id, count, seed=seed, **kwargs))


@pytest.fixture(scope="module")
def us_calls() -> list[dict[str, Any]]:
    return calls_of(US, 20_000)


@pytest.fixture(scope="module")
def uk_calls() -> list[dict[str, Any]]:
    return calls_of(UK, 20_000)


@pytest.fixture(scope="module", params=["us", "uk"])
def sample(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    name = "us_calls" if request.param == "us" else "uk_calls"
    calls: list[dict[str, Any]] = request.getfixturevalue(name)
    return calls


def test_demo_tenants_are_one_per_region() -> None:
    assert (
        DemoTenant("acmecorp01", "us", "America/New_York"),
        DemoTenant("britco01", "uk", "Europe/London"),
    ) == DEMO_TENANTS


def test_same_arguments_give_identical_calls() -> None:
    assert calls_of(US, 2000, seed=42) == calls_of(US, 2000, seed=42)
    assert orjson.dumps(calls_of(UK, 500, seed=3)) == orjson.dumps(calls_of(UK, 500, seed=3))


def test_different_seeds_give_different_calls() -> None:
    one, two = calls_of(US, 500, seed=1), calls_of(US, 500, seed=2)
    assert [c["callId"] for c in one] != [c["callId"] for c in two]
    assert [c["startTime"] for c in one] != [c["startTime"] for c in two]
    assert {c["agentId"] for c in one}.isdisjoint({c["agentId"] for c in two} - {""})


def test_tenants_of_one_seed_get_their_own_roster() -> None:
    us = {c["agentId"] for c in calls_of(US, 500)} - {""}
    other = {c["agentId"] for c in calls_of(DemoTenant("other01", "us", US.timezone), 500)}
    assert us and us.isdisjoint(other)


@pytest.mark.parametrize("count", [0, 1, 2, 1234])
def test_yields_exactly_count_calls(count: int) -> None:
    assert len(calls_of(US, count)) == count


def test_calls_are_streamed_not_built_up_front() -> None:
    # A billion calls would not fit in memory; the first few must still come out at once.
    first = list(islice(generate_calls("acmecorp01", 10**9, seed=1, end_ms=END_MS), 3))
    assert len(first) == 3
    assert first[0]["startTime"] >= END_MS - 90 * DAY_MS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "count"),
        ({"days": 0}, "days"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"end_ms": 1000}, "1970"),
    ],
)
def test_bad_arguments_are_rejected_at_the_call(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"tenant_id": "acmecorp01", "count": 10, "seed": 1, "end_ms": END_MS}
    with pytest.raises(ValueError, match=message):
        generate_calls(**(args | kwargs))


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(KeyError):
        generate_calls("acmecorp01", 10, seed=1, end_ms=END_MS, timezone="Mars/Olympus")


def test_keys_and_json_types_are_the_references(sample: list[dict[str, Any]]) -> None:
    for call in sample:
        assert tuple(call) == DATA_KEYS + EXTRA_KEYS
        decoded = orjson.loads(orjson.dumps(call))
        for key, value in decoded.items():
            if key in INT_KEYS:
                assert type(value) is int and value >= 0, (key, value)
            else:
                assert type(value) is str, (key, value)
        assert re.fullmatch(r"[0-9]+", call["callDuration"])
        for key in DECIMAL_KEYS:
            assert re.fullmatch(r"[0-9]+\.[0-9]", call[key]), (key, call[key])
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", call["callDate"])
        assert call["callDate"] == f"{call['callDateOnly']} {call['callTime']}"
        assert isinstance(orjson.loads(call["postCallSurvey"]), list)
        assert call["voiceComment"] == "{}"
        assert call["voiceCommentFileNames"] == ""


def test_tenant_id_is_the_tenants(us_calls: list[dict[str, Any]]) -> None:
    assert {c["tenantId"] for c in us_calls} == {"acmecorp01"}


def test_calls_lie_in_the_window_oldest_first(sample: list[dict[str, Any]]) -> None:
    starts = [c["startTime"] for c in sample]
    assert starts == sorted(starts)
    assert starts[0] >= END_MS - 90 * DAY_MS and starts[-1] < END_MS
    # Spread over the whole window, not bunched at one end.
    assert starts[0] < END_MS - 85 * DAY_MS and starts[-1] > END_MS - 2 * DAY_MS


def test_an_unaligned_short_window_is_respected() -> None:
    end = END_MS + 123_457
    calls = calls_of(US, 3000, days=1, end_ms=end)
    assert all(end - DAY_MS <= c["startTime"] < end for c in calls)


def test_call_ids_follow_the_vendor_pattern_and_are_unique(sample: list[dict[str, Any]]) -> None:
    pattern = re.compile(r"int-([0-9a-f]+)-[A-Za-z0-9_-]{23}-phone-00-([a-z0-9]+)")
    for call in sample:
        match = pattern.fullmatch(call["callId"])
        assert match, call["callId"]
        assert int(match[1], 16) == call["startTime"]
        assert match[2] == call["tenantId"]
    assert len({c["callId"] for c in sample}) == len(sample)


def test_roster_ids_have_the_vendor_forms(sample: list[dict[str, Any]]) -> None:
    agents: set[str] = set()
    queues: set[str] = set()
    groups: set[str] = set()
    channels: set[str] = set()
    for call in sample:
        agents.update(a for a in call["agentId"].split(",") if a)
        queues.update(q for q in call["queueId"].split(",") if q)
        groups.update(g for g in call["agentGroup"].split(",") if g)
        channels.add(call["dialedNumber"])
        assert re.fullmatch(r"[0-9]+( [0-9]+)*", call["transactionId"])
    assert all(re.fullmatch(r"ag[A-Za-z0-9_-]{21}", a) for a in agents)
    assert all(re.fullmatch(r"[1-9][0-9]{2,3}", q) for q in queues | groups)
    assert all(re.fullmatch(r"[0-9]{11}", c) for c in channels)
    assert 20 <= len(agents) <= 100
    assert 5 <= len(queues) <= 12 and 3 <= len(groups) <= 8
    assert 2 <= len(channels) <= 6


def test_transaction_ids_rise_through_the_stream(sample: list[dict[str, Any]]) -> None:
    ids = [int(t) for call in sample for t in call["transactionId"].split(" ")]
    assert all(a < b for a, b in pairwise(ids))


def test_abandoned_calls_have_no_agent(sample: list[dict[str, Any]]) -> None:
    abandoned = [c for c in sample if float(c["abandonTime"]) > 0]
    assert 0.02 * len(sample) < len(abandoned) < 0.3 * len(sample)
    for call in abandoned:
        assert call["agentId"] == "" and call["agentGroup"] == ""
        assert call["agentCallHandlingDuration"] == "0.0"
        assert call["holdDuration"] == "0.0" and call["muteDuration"] == 0
        assert call["transferCount"] == "0.0"
        assert call["hungupBy"] == "Caller"
        assert call["callSubType"] in ("Queued", "Verification")
        assert call["queueId"] != ""
        assert call["waitTime"] == call["abandonTime"]
    # And every queued call without an agent is an abandon.
    for call in sample:
        if call["callSubType"] in ("Queued", "Verification") and not call["agentId"]:
            assert float(call["abandonTime"]) > 0


def test_calls_ended_in_the_ivr_reach_no_queue(sample: list[dict[str, Any]]) -> None:
    ended = [c for c in sample if c["callSubType"] == "No Queue"]
    assert ended
    for call in ended:
        assert call["queueId"] == call["agentId"] == call["agentGroup"] == ""
        assert call["waitTime"] == call["agentCallHandlingDuration"] == "0.0"
        assert float(call["timeInIVR"]) > 0
        assert call["hungupBy"] in ("Caller", "System")


def test_holds_are_consistent(sample: list[dict[str, Any]]) -> None:
    held = 0
    for call in sample:
        total, longest = float(call["holdDuration"]), float(call["maximumHoldDuration"])
        handling = float(call["agentCallHandlingDuration"])
        if call["agentHoldCount"] == 0:
            assert total == longest == 0
        else:
            held += 1
            assert 0 < longest <= total <= handling
            assert call["agentId"]
        assert call["agentHoldCount"] <= 3 * (int(float(call["transferCount"])) + 1)
    assert held > 0.1 * len(sample)


def test_mutes_are_consistent(sample: list[dict[str, Any]]) -> None:
    muted = 0
    for call in sample:
        if call["agentMuteCount"] == 0:
            assert call["muteDuration"] == 0
        else:
            muted += 1
            assert 0 < call["muteDuration"] <= float(call["agentCallHandlingDuration"])
    assert muted > 0.05 * len(sample)


def test_transfers_involve_one_more_queue_and_agent(sample: list[dict[str, Any]]) -> None:
    seen: Counter[int] = Counter()
    for call in sample:
        transfers = int(float(call["transferCount"]))
        seen[transfers] += 1
        if not call["agentId"]:
            assert transfers == 0
            continue
        queues, agents = call["queueId"].split(","), call["agentId"].split(",")
        assert len(queues) == len(set(queues)) == transfers + 1
        assert len(agents) == len(set(agents)) == transfers + 1
        assert 1 <= len(call["agentGroup"].split(",")) <= transfers + 1
        assert len(call["transactionId"].split(" ")) >= transfers + 1
    assert seen[0] > 0.8 * len(sample)
    assert seen[1] > 0 and seen[2] > 0


def test_an_agent_is_always_in_one_group(sample: list[dict[str, Any]]) -> None:
    group_of: dict[str, str] = {}
    for call in sample:
        agents, groups = call["agentId"].split(","), call["agentGroup"].split(",")
        if len(agents) == 1 and agents[0]:
            assert group_of.setdefault(agents[0], groups[0]) == groups[0]
    for call in sample:
        if call["agentId"]:
            expected = {group_of.get(a) for a in call["agentId"].split(",")} - {None}
            assert expected <= set(call["agentGroup"].split(","))


def test_call_duration_is_ivr_wait_handling_and_a_little_slack(
    sample: list[dict[str, Any]],
) -> None:
    for call in sample:
        parts = sum(float(call[k]) for k in ("timeInIVR", "waitTime", "agentCallHandlingDuration"))
        slack = int(call["callDuration"]) - parts
        legs = int(float(call["transferCount"])) + 1
        assert 0 <= slack <= 30_000 * legs, call
        assert int(call["callDuration"]) > 0


def test_call_types_and_sub_types(sample: list[dict[str, Any]]) -> None:
    types = Counter(c["callType"] for c in sample)
    assert set(types) == {"Inbound", "Outbound"}
    assert types["Inbound"] > 5 * types["Outbound"] > 0
    sub_types = Counter(c["callSubType"] for c in sample)
    assert {"Queued", "No Queue", "Verification"} <= set(sub_types)
    assert sub_types.most_common(1)[0][0] == "Queued"
    for call in sample:
        if call["callType"] == "Outbound":
            assert call["agentId"] and call["timeInIVR"] == call["waitTime"] == "0.0"
            assert call["destinationNumber"] == call["callerNumber"]
            assert call["scheduleHours"] == "Open"


def test_schedule_hours_follow_local_opening_hours(sample: list[dict[str, Any]]) -> None:
    states: Counter[str] = Counter()
    for call in sample:
        local = datetime.strptime(call["callDate"], "%m/%d/%Y %H:%M:%S")
        first, after = OPENING_HOURS.get(local.weekday(), (0, 0))
        is_open = first <= local.hour * 60 + local.minute < after
        assert call["scheduleHours"] == ("Open" if is_open else "Closed"), call["callDate"]
        states[call["scheduleHours"]] += 1
    # Calls keep coming after hours, but far fewer.
    assert 0 < states["Closed"] < 0.15 * len(sample)


@pytest.mark.parametrize(
    ("timezone", "end_iso"),
    [
        ("America/New_York", "2025-03-20T00:00:00+00:00"),  # spring forward on 03-09
        ("America/New_York", "2025-11-12T00:00:00+00:00"),  # fall back on 11-02
        ("Europe/London", "2025-04-08T00:00:00+00:00"),  # spring forward on 03-30
        ("Europe/London", "2025-11-05T00:00:00+00:00"),  # fall back on 10-26
    ],
)
def test_local_dates_agree_with_start_time_across_dst(timezone: str, end_iso: str) -> None:
    tz = ZoneInfo(timezone)
    end = int(datetime.fromisoformat(end_iso).timestamp() * 1000)
    calls = list(generate_calls("acmecorp01", 6000, seed=9, end_ms=end, days=21, timezone=timezone))
    offsets = set()
    for call in calls:
        local = datetime.fromtimestamp(call["startTime"] / 1000, tz)
        offsets.add(local.utcoffset())
        assert call["callDate"] == local.strftime("%m/%d/%Y %H:%M:%S"), call["startTime"]
        assert call["callDateOnly"] == local.strftime("%m/%d/%Y")
        assert call["callTime"] == local.strftime("%H:%M:%S")
    assert len(offsets) == 2  # the sample really crosses the change


def test_calls_follow_the_week_and_the_day() -> None:
    tz = ZoneInfo(US.timezone)
    buckets: Counter[tuple[int, int]] = Counter()
    for call in generate_calls("acmecorp01", 50_000, seed=5, end_ms=END_MS):
        local = datetime.fromtimestamp(call["startTime"] / 1000, tz)
        buckets[local.weekday(), local.hour] += 1
    assert buckets[1, 10] > 20 * max(buckets[6, 3], 1)  # Tuesday 10:00 against Sunday 03:00
    assert buckets[1, 10] > buckets[1, 12]  # the mid-morning peak tops lunchtime
    assert buckets[1, 15] > buckets[1, 18]  # and the mid-afternoon peak the evening
    weekdays = sum(n for (day, _), n in buckets.items() if day < 5) / 5
    weekend = sum(n for (day, _), n in buckets.items() if day >= 5) / 2
    assert weekend < 0.5 * weekdays


def test_callers_are_a_realistic_mix(
    us_calls: list[dict[str, Any]], uk_calls: list[dict[str, Any]]
) -> None:
    for calls in (us_calls, uk_calls):
        names = Counter(c["callerName"] for c in calls)
        assert names[""] > 0 and names["Unknown"] > 0
        assert any(not name.isascii() for name in names)
        assert any(name.isupper() and " " in name for name in names)
        # Regular callers ring more than once, under the same name.
        numbers = Counter((c["callerName"], c["callerNumber"]) for c in calls)
        assert numbers.most_common(1)[0][1] >= 5
        same = sum(c["callerPhoneNumber"] == c["callerNumber"] for c in calls)
        assert same > 0.9 * len(calls)
    us_numbers = {c["callerNumber"] for c in us_calls} - {""}
    uk_numbers = {c["callerNumber"] for c in uk_calls} - {""}
    assert all(re.fullmatch(r"[2-9][0-9]{9}", n) for n in us_numbers)
    assert all(re.fullmatch(r"0[1-9][0-9]{9}", n) for n in uk_numbers)
    assert any("José" in c["callerName"] or "Ömer" in c["callerName"] for c in us_calls)


def test_every_call_imports_through_the_parser(sample: list[dict[str, Any]]) -> None:
    timezone = US.timezone if sample[0]["tenantId"] == US.tenant_id else UK.timezone
    reader = LocalTimeReader(ZoneInfo(timezone))
    for number, call in enumerate(sample, 1):
        row, errors = parse_call(orjson.dumps(call), reader, f"line {number}")
        assert errors == [], (call, errors)
        assert row is not None
        assert row[0] == call["callId"] and row[1] == call["startTime"]
        # Decoded calls (the demo command's path) give the same row.
        assert parse_call(call, reader, f"line {number}") == (row, [])


def test_call_date_alone_imports_to_the_same_second() -> None:
    # Without startTime an import reads callDate in its zone, which gives back the start to the
    # second (this window holds no DST change, so no local time is read ambiguously).
    reader = LocalTimeReader(ZoneInfo(UK.timezone))
    for call in calls_of(UK, 2000, days=30):
        del call["startTime"]
        row, errors = parse_call(orjson.dumps(call), reader, "line 1")
        assert errors == [] and row is not None
        assert row[1] == int(call["callId"].split("-")[1], 16) // 1000 * 1000


# sha256 over one compact JSON line per call (keys in the generator's order), recorded from the
# generator before it was split into modules: the same seed must keep giving the same bytes.
PINNED_STREAMS = [
    ("acmecorp01", 7, "America/New_York", 90, 200, 200,
     "c73a5616c44e79ab7bcd45d3850f6e54af97e9ad1daa2ccd9efd65c96d6b90fe"),
    ("britco01", 3, "Europe/London", 90, 200, 200,
     "ba9c04ba275ee5fb9e87f6164264e4db67f5a69e6907136b9ba0bfd516619afb"),
    ("tenant-x", 0, "Australia/Lord_Howe", 30, 2000, 2000,
     "d432a5a463145cc7f2d5209e6d147df7ab8f78f25da2d1a63b8cba9e87aa0937"),
    ("acmecorp01", 42, "America/New_York", 90, 20_000, 200,
     "9537465628c28f4e2a9901ad9423b74eb8f5906d8d5259e54c0caf1ac171668f"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tenant", "seed", "timezone", "days", "count", "first", "digest"), PINNED_STREAMS
)
def test_a_seed_gives_the_recorded_bytes(
    tenant: str, seed: int, timezone: str, days: int, count: int, first: int, digest: str
) -> None:
    calls = generate_calls(tenant, count, seed=seed, end_ms=END_MS, days=days, timezone=timezone)
    lines = (
        json.dumps(call, separators=(",", ":")).encode() + b"\n" for call in islice(calls, first)
    )
    assert hashlib.sha256(b"".join(lines)).hexdigest() == digest


@pytest.mark.parametrize("tenant", DEMO_TENANTS, ids=lambda t: t.tenant_id)
def test_the_roster_holds_exactly_the_ids_the_calls_carry(tenant: DemoTenant) -> None:
    roster = roster_for(tenant, seed=5)
    assert roster == roster_for(tenant.tenant_id, 5, tenant.timezone)
    calls = list(
        generate_calls(tenant.tenant_id, 5000, seed=5, end_ms=END_MS, timezone=tenant.timezone)
    )

    def seen(key: str) -> set[str]:
        return {part for call in calls for part in call[key].split(",") if part}

    assert seen("agentId") == set(roster.agent_ids)
    assert seen("queueId") == set(roster.queue_ids)
    assert seen("agentGroup") == set(roster.group_ids)
    assert {call["dialedNumber"] for call in calls} == set(roster.channels)
    assert roster_for(tenant, seed=6).agent_ids != roster.agent_ids
