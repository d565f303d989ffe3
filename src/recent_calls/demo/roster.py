"""Who a demo tenant's calls involve: its agents, agent groups, queues, channels and callers.

Everything here is drawn from the seed, so one (tenant, seed) always has the same contact
center. `roster_for` gives the ids the calls of `generate_calls` carry, for whatever needs to
know them (display names, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from random import Random


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


def region_of(tenant_id: str, timezone: str) -> str:
    """A demo tenant's own region, else "uk" for European zones (the vendor's UK/EU platform)."""
    for tenant in DEMO_TENANTS:
        if tenant.tenant_id == tenant_id:
            return tenant.region
    return "uk" if timezone.startswith("Europe/") else "us"


@dataclass(frozen=True)
class Roster:
    """The ids a demo tenant's calls carry: agents, queues (the outbound one last), agent groups
    and channels (the dialed numbers), each in the order they were drawn."""

    tenant_id: str
    agent_ids: tuple[str, ...]
    queue_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    channels: tuple[str, ...]


def roster_for(tenant: DemoTenant | str, seed: int, timezone: str = "America/New_York") -> Roster:
    """The roster behind `generate_calls(tenant_id, ..., seed=seed, timezone=timezone)`; a
    DemoTenant brings its own zone. The seed is the one that tenant's calls were made with."""
    if isinstance(tenant, DemoTenant):
        tenant_id, timezone = tenant.tenant_id, tenant.timezone
    else:
        tenant_id = tenant
    tables = draw_roster(Random(f"roster:{seed}:{tenant_id}"), region_of(tenant_id, timezone))
    return Roster(
        tenant_id=tenant_id,
        agent_ids=tables.agent_ids,
        queue_ids=(*tables.queue_ids, tables.outbound_queue),
        group_ids=tuple(dict.fromkeys(tables.agent_group)),
        channels=tables.channels,
    )


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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
class RosterTables:
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


def new_caller(rng: Random, roster: RosterTables) -> tuple[str, str]:
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


def draw_roster(rng: Random, region: str) -> RosterTables:
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
    roster = RosterTables(
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
    regulars = tuple(new_caller(rng, roster) for _ in range(2500))
    return replace(roster, regulars=regulars)
