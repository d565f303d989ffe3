"""Seeded demo calls: a reproducible, realistic stream of one tenant's calls in the import shape.

The stream is built in two steps. A roster (agents, agent groups, queues, channels, regular
callers) is drawn from the seed; then `count` start times are drawn in order from an arrival rate
that follows business hours, the time of day, the day of the week and a random busyness per day,
and each call's story (IVR, queue, abandon or agents, transfers, holds, mutes) is drawn at its
start time. Nothing grows with `count`: the rate table is per 15 minutes of the window, and the
start times come out sorted without being stored (sequential order statistics).
"""

from __future__ import annotations

import binascii
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from math import exp, expm1, log
from random import Random
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DemoTenant:
    """A demo tenant: its id, its data-residency region and its contact center's time zone."""

    tenant_id: str
    region: str
    timezone: str


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant("acmecorp01", "us", "America/New_York"),
    DemoTenant("britco01", "uk", "Europe/London"),
)

_DAY_MS = 86_400_000
_BUCKET_MS = 900_000  # 15 minutes: every zone offset in use is a multiple of it
_QUARTERS = 96
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIXED = -(1 << 40)  # offset marker for a bucket that holds a zone change (none do today)

# Opening hours in local time, (first minute, minute after last) by weekday, Monday = 0.
_OPENING_HOURS: dict[int, tuple[int, int]] = {
    0: (8 * 60, 20 * 60),
    1: (8 * 60, 20 * 60),
    2: (8 * 60, 20 * 60),
    3: (8 * 60, 20 * 60),
    4: (8 * 60, 20 * 60),
    5: (9 * 60, 13 * 60),
}

# Relative call volume per weekday: Mondays catch the weekend's backlog, Sundays are dead.
_WEEKDAY_VOLUME = (1.15, 1.07, 1.0, 0.97, 0.88, 0.5, 0.3)


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell curve of height 1 around `centre` hours."""
    return exp(-0.5 * ((hour - centre) / width) ** 2)


def _open_rate(hour: float) -> float:
    """Relative arrivals at `hour` (local, fractional) while the center is open."""
    # Two peaks, mid-morning and mid-afternoon, with the lunch dip between them.
    return 0.3 + 1.0 * _bump(hour, 10.5, 1.3) + 0.8 * _bump(hour, 14.75, 1.5)


def _closed_rate(hour: float) -> float:
    """Relative arrivals at `hour` (local, fractional) while the center is closed."""
    # After hours: a tail of callers in the evening, a trickle at night, early birds before 8.
    return 0.015 + 0.09 * _bump(hour, 20.5, 1.0) + 0.06 * _bump(hour, 7.4, 0.5)


def _quarter_tables() -> tuple[tuple[tuple[bool, ...], ...], tuple[tuple[float, ...], ...]]:
    """Per weekday and local quarter hour: whether the center is open, and the arrival rate."""
    opened: list[tuple[bool, ...]] = []
    rates: list[tuple[float, ...]] = []
    for weekday in range(7):
        first, after = _OPENING_HOURS.get(weekday, (0, 0))
        flags = tuple(first <= q * 15 < after for q in range(_QUARTERS))
        opened.append(flags)
        rates.append(
            tuple(
                _WEEKDAY_VOLUME[weekday]
                * (_open_rate if flags[q] else _closed_rate)((q * 15 + 7.5) / 60)
                for q in range(_QUARTERS)
            )
        )
    return tuple(opened), tuple(rates)


_OPEN, _RATE = _quarter_tables()
_PEAK_RATE = max(max(row) for row in _RATE)

# Lognormal factors with median 1, as 4096 quantiles: a table lookup instead of gauss() + exp().
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))
_LN_NARROW = tuple(exp(0.45 * z) for z in _Z)
_LN_WIDE = tuple(exp(0.8 * z) for z in _Z)

_HH_MM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
_COLON_SS = tuple(f":{s:02d}" for s in range(60))
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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

# Names and numbers. Numbers are in ranges kept for fiction: 555 exchanges in the US, Ofcom's
# drama ranges in the UK.
# fmt: off
_FIRST = {
    "us": (
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
        "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
        "Sarah", "Carlos", "Maria", "José", "Lucía", "Ömer", "Zoë", "Chloé", "Renée", "André",
        "Nguyễn", "Wei", "Priya", "Aisha", "DeShawn", "Kevin", "Emily", "Brian", "Ashley",
        "Daniel", "Amanda", "Matthew", "Stephanie", "Björn", "Noémie", "Jürgen", "Héctor",
    ),
    "uk": (
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Olivia", "Charlie",
        "Emily", "Thomas", "Sophie", "James", "Grace", "William", "Lily", "Siobhán", "Aoife",
        "Seán", "Niamh", "Ömer", "Zoë", "Chloé", "Łukasz", "Agnieszka", "José", "Inés",
        "Priya", "Mohammed", "Fatima", "Rhys", "Cerys", "Dafydd", "Eilidh", "Callum", "Mairéad",
    ),
}
_LAST = {
    "us": (
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
        "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Núñez", "Çelik", "Müller",
        "Peña", "Ibáñez", "O'Connor", "Nguyen", "Chen", "Patel", "Kim", "Demoperson", "Brontë",
        "Sánchez", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Kowalski",
    ),
    "uk": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
        "Hall", "Wood", "Jackson", "Clarke", "Ó Briain", "Ní Mhurchú", "Çelik", "Wójcik",
        "Núñez", "Müller", "Patel", "Khan", "Begum", "MacLeod", "Llewellyn", "Hughes",
        "Brontë", "Demoperson", "O'Neill", "Fitzgerald",
    ),
}
_COMPANIES = {
    "us": (
        "ACME CO", "GLOBEX CORP", "INITECH LLC", "NORTHWIND TRADERS", "CONTOSO INC",
        "FABRIKAM INC", "TAILSPIN TOYS", "WOODGROVE BANK", "ADVENTURE WORKS", "LITWARE INC",
    ),
    "uk": (
        "ACME LTD", "GLOBEX UK PLC", "NORTHWIND TRADERS LTD", "CONTOSO LTD", "FABRIKAM UK",
        "WOODGROVE BANK PLC", "TAILSPIN TOYS LTD", "SMITH & SONS LTD", "BRITCO SUPPLIES",
    ),
}
# Names the network shows when it has none for a number.
_PLACEHOLDERS = {
    "us": ("Unknown", "WIRELESS CALLER", "NEW YORK NY", "CHICAGO IL", "TOLL FREE CALL"),
    "uk": ("Unknown", "Unknown", "Mobile", "London"),
}
_AREA_CODES = (
    "201", "212", "213", "305", "312", "404", "408", "415", "425", "469", "512", "602",
    "617", "646", "669", "702", "713", "718", "732", "804", "818", "857", "904", "917",
    "919", "949", "971", "980",
)
_UK_RANGES = (
    "07700900", "07700900", "07700900", "02079460", "01134960", "01144960", "01154960",
    "01164960", "01174960", "01184960", "01214960", "01314960", "01414960", "01514960",
    "01614960", "02920180", "02890180", "01632960",
)
_UK_CHANNEL_RANGES = ("08081570", "03069990", "02079460")
# fmt: on
_FOUR_DIGITS = tuple(f"{n:04d}" for n in range(10_000))
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))

# Queue kinds: (share of the main line, handling median s, wait mean s, transfer chance).
_QUEUE_KINDS = (
    (0.30, 330, 55, 0.12),  # customer service
    (0.22, 520, 80, 0.16),  # technical support
    (0.16, 280, 40, 0.08),  # billing
    (0.12, 240, 25, 0.05),  # sales
    (0.08, 600, 95, 0.20),  # escalations
    (0.06, 300, 35, 0.10),  # retention
    (0.04, 420, 60, 0.06),  # second language
    (0.02, 200, 20, 0.04),  # VIP line
)


@dataclass(frozen=True)
class _Roster:
    """One tenant's configuration, as parallel tuples indexed by agent, queue or channel."""

    agent_ids: tuple[str, ...]
    agent_group: tuple[str, ...]
    agent_speed: tuple[float, ...]
    agent_hold: tuple[float, ...]
    agent_mute: tuple[float, ...]
    queue_ids: tuple[str, ...]
    queue_agents: tuple[tuple[int, ...], ...]
    queue_handle_ms: tuple[float, ...]
    queue_wait_ms: tuple[float, ...]
    queue_transfer: tuple[float, ...]
    outbound_queue: str
    channels: tuple[str, ...]
    channel_table: tuple[int, ...]
    channel_queues: tuple[tuple[int, ...], ...]
    regulars: tuple[tuple[str, str], ...]
    names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    number_prefixes: tuple[str, ...]
    number_suffixes: tuple[str, ...]
    e164_prefix: str
    national_prefix: str
    ivr_ms: float
    patience_ms: float


def _table(weights: Sequence[float], size: int = 256) -> tuple[int, ...]:
    """Indices repeated in proportion to `weights`: a weighted pick is one table lookup."""
    total = sum(weights)
    slots = [max(1, round(w / total * size)) for w in weights]
    return tuple(i for i, n in enumerate(slots) for _ in range(n))


def _token(rng: Random, length: int) -> str:
    """`length` random url-safe characters."""
    return "".join(_ALPHABET[rng.getrandbits(6)] for _ in range(length))


def _new_caller(rng: Random, roster: _Roster) -> tuple[str, str]:
    """A caller's (name, number): mostly people, some companies, some without a name."""
    r = rng.random
    first, last, companies, placeholders = roster.names
    number = (
        roster.number_prefixes[int(r() * len(roster.number_prefixes))]
        + roster.number_suffixes[int(r() * len(roster.number_suffixes))]
    )
    u = r()
    if u < 0.72:
        name = first[int(r() * len(first))] + " " + last[int(r() * len(last))]
    elif u < 0.78:
        # Caller-id databases often hold "LAST FIRST" in capitals.
        name = (last[int(r() * len(last))] + " " + first[int(r() * len(first))]).upper()
    elif u < 0.87:
        name = companies[int(r() * len(companies))]
    elif u < 0.93:
        name = placeholders[int(r() * len(placeholders))]
    elif u < 0.99:
        name = ""
    else:
        return "Anonymous", ""
    return name, number


def _roster(rng: Random, region: str) -> _Roster:
    """Draw one tenant's agents, groups, queues, channels and regular callers."""
    r = rng.random
    n_groups = 4 + int(r() * 3)
    n_queues = 6 + int(r() * 3)
    # Queue and group ids come from one numbering of configuration objects, as in the vendor's
    # example (queue 2583 next to group 2577).
    ids = [str(n) for n in rng.sample(range(100, 3000), n_groups + n_queues + 1)]
    group_ids, queue_ids, outbound_queue = ids[:n_groups], ids[n_groups:-1], ids[-1]

    agent_ids: list[str] = []
    agent_group: list[int] = []
    for g in range(n_groups):
        for _ in range(5 + int(r() * 8)):
            agent_ids.append("ag" + _token(rng, 21))
            agent_group.append(g)
    n_agents = len(agent_ids)

    kinds = _QUEUE_KINDS[:n_queues]
    queue_agents: list[tuple[int, ...]] = []
    for q in range(n_queues):
        groups = {q % n_groups}
        if r() < 0.5:
            groups.add(int(r() * n_groups))  # an overflow group
        queue_agents.append(tuple(a for a in range(n_agents) if agent_group[a] in groups))

    n_channels = 3 + int(r() * 3)
    prefixes: tuple[str, ...]
    if region == "uk":
        channels = [
            _UK_CHANNEL_RANGES[c % len(_UK_CHANNEL_RANGES)] + f"{int(r() * 1000):03d}"
            for c in range(n_channels)
        ]
        prefixes, suffixes = _UK_RANGES, _THREE_DIGITS
        e164, national = "+44", "0"
    else:
        channels = [
            "1" + _AREA_CODES[int(r() * len(_AREA_CODES))] + "555" + f"{int(r() * 10000):04d}"
            for _ in range(n_channels)
        ]
        prefixes = tuple(code + "555" for code in _AREA_CODES)
        suffixes = _FOUR_DIGITS
        e164, national = "+1", ""
    channels = list(dict.fromkeys(channels))  # two draws of one number make one channel
    # The main line takes half the calls and reaches every queue; the others are direct lines
    # to one or two queues.
    others = len(channels) - 1
    channel_weights = [0.5] + [0.5 / others] * others if others else [1.0]
    channel_queues = [_table([k[0] for k in kinds])]
    for _ in range(others):
        picks = rng.sample(range(n_queues), 1 + int(r() * 2))
        channel_queues.append(tuple(picks[i] for i in _table([kinds[q][0] for q in picks], 64)))

    names = (_FIRST[region], _LAST[region], _COMPANIES[region], _PLACEHOLDERS[region])
    roster = _Roster(
        agent_ids=tuple(agent_ids),
        agent_group=tuple(group_ids[g] for g in agent_group),
        agent_speed=tuple(0.7 + 0.65 * r() for _ in range(n_agents)),
        agent_hold=tuple(0.12 + 0.4 * r() for _ in range(n_agents)),
        agent_mute=tuple(0.05 + 0.3 * r() for _ in range(n_agents)),
        queue_ids=tuple(queue_ids),
        queue_agents=tuple(queue_agents),
        queue_handle_ms=tuple(k[1] * 1000 * (0.85 + 0.3 * r()) for k in kinds),
        queue_wait_ms=tuple(k[2] * 1000 * (0.8 + 0.4 * r()) for k in kinds),
        queue_transfer=tuple(k[3] for k in kinds),
        outbound_queue=outbound_queue,
        channels=tuple(channels),
        channel_table=_table(channel_weights),
        channel_queues=tuple(channel_queues),
        regulars=(),
        names=names,
        number_prefixes=prefixes,
        number_suffixes=suffixes,
        e164_prefix=e164,
        national_prefix=national,
        ivr_ms=15_000 + 15_000 * r(),
        patience_ms=400_000 + 200_000 * r(),
    )
    # Regular callers ring again and again, so a search by name or number finds a history.
    regulars = tuple(_new_caller(rng, roster) for _ in range(2500))
    return replace(roster, regulars=regulars)


@dataclass(frozen=True)
class _Plan:
    """The arrival rate over the window, per 15-minute bucket aligned to UTC."""

    starts: array[int]  # bucket k is [starts[k], starts[k + 1])
    cumulative: array[float]  # expected calls before bucket k, in rate units
    offsets: array[int]  # local UTC offset in seconds, or _MIXED
    wait_scale: array[float]  # how long queues are in this bucket, relative to normal


def _offset(tz: ZoneInfo, seconds: int) -> int:
    """The UTC offset of zone `tz` at epoch `seconds`, in seconds."""
    delta = datetime.fromtimestamp(seconds, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _plan(rng: Random, tz: ZoneInfo, start_ms: int, end_ms: int) -> _Plan:
    """The rate table of [start_ms, end_ms) in zone `tz`, with a random busyness per day."""
    starts = array("q", [start_ms])
    cumulative = array("d", [0.0])
    offsets = array("q")
    wait_scale = array("d")
    day_volume: dict[int, float] = {}
    total = 0.0
    edge = start_ms
    while edge < end_ms:
        after = min((edge // _BUCKET_MS + 1) * _BUCKET_MS, end_ms)
        seconds = edge // 1000
        offset = _offset(tz, seconds)
        if _offset(tz, (after - 1) // 1000) != offset:
            offsets.append(_MIXED)
        else:
            offsets.append(offset)
        local = seconds + offset
        day = local // 86400
        volume = day_volume.get(day)
        if volume is None:
            # Most days vary a little; now and then a day is swamped (an outage, a mailing).
            volume = exp(0.12 * _Z[int(rng.random() * 4096)])
            if rng.random() < 0.03:
                volume *= 1.6 + 0.6 * rng.random()
            day_volume[day] = volume
        weekday = (day + 3) % 7
        quarter = (local % 86400) // 900
        rate = _RATE[weekday][quarter]
        total += rate * volume * (after - edge)
        starts.append(after)
        cumulative.append(total)
        if _OPEN[weekday][quarter]:
            # Staffing follows the forecast, so queues grow at peaks and on surprise days.
            wait_scale.append(volume * volume * (0.6 + 0.5 * rate / _PEAK_RATE))
        else:
            wait_scale.append(2.5)  # a skeleton crew after hours
        edge = after
    return _Plan(starts, cumulative, offsets, wait_scale)


def _region(tenant_id: str, timezone: str) -> str:
    """A demo tenant's own region, else "uk" for European zones (the vendor's UK/EU platform)."""
    for tenant in DEMO_TENANTS:
        if tenant.tenant_id == tenant_id:
            return tenant.region
    return "uk" if timezone.startswith("Europe/") else "us"


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
    roster = _roster(Random(f"roster:{seed}:{tenant_id}"), _region(tenant_id, timezone))
    plan = _plan(Random(f"days:{seed}:{tenant_id}"), tz, start_ms, end_ms)
    return _calls(Random(f"calls:{seed}:{tenant_id}"), roster, plan, tz, tenant_id, count)


def _calls(
    rng: Random, roster: _Roster, plan: _Plan, tz: ZoneInfo, tenant_id: str, count: int
) -> Iterator[dict[str, Any]]:
    """The calls themselves; written for speed, so everything hot is a local name."""
    r = rng.random
    getrandbits = rng.getrandbits
    b2a = binascii.b2a_base64
    url_safe = _URL_SAFE
    ln_narrow, ln_wide = _LN_NARROW, _LN_WIDE
    hh_mm, colon_ss = _HH_MM, _COLON_SS
    open_table = _OPEN
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
        local = seconds + (offset if offset != _MIXED else _offset(tz, seconds))
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
            caller_name, caller_number = _new_caller(rng, roster)
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
                caller_name, caller_number = _new_caller(rng, roster)
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
