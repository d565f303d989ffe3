"""Display names for a demo tenant: one for every agent, queue, group and channel its calls use.

The ids are read from the tenant's stored calls, so the names fit whatever the demo generator
made; the names are drawn from `seed`, so a seed always gives the same directory.
"""

from __future__ import annotations

from random import Random

from recent_calls.query.directory import Entry
from recent_calls.storage.base import Storage

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Liam", "Sofia", "Noah", "Chloe", "Mateo", "Priya", "Ethan",
    "Hannah", "Omar", "Grace", "Lucas", "Zoe", "Daniel", "Amara", "Oliver", "Mei", "Samuel",
    "Isabel", "Ravi", "Emily", "Diego", "Fatima", "Jack", "Nora", "Kwame", "Ava", "Tomás",
    "Lena", "Hiro", "Rosa", "Felix", "Yara", "Owen", "Ingrid", "Malik", "Clara", "Sean",
)  # fmt: skip
LAST_NAMES = (
    "Lopez", "Smith", "Okafor", "Nguyen", "Patel", "Johnson", "Garcia", "Kowalski", "Brown",
    "Rossi", "Kim", "Murphy", "Silva", "Haddad", "Walker", "Chen", "Dubois", "Evans", "Novak",
    "Schmidt", "Mensah", "O'Brien", "Tanaka", "Reyes", "Andersen", "Khan", "Wright", "Moreau",
    "Costa", "Fischer",
)  # fmt: skip
# The demo's queues, most called first: the generator gives its busiest kinds of queue the
# most calls, so naming queues by volume gives each its likely name.
QUEUE_NAMES = (
    "Customer Service", "Technical Support", "Billing", "Sales", "Escalations", "Retention",
    "Second Language", "VIP Line", "Outbound", "Callbacks",
)  # fmt: skip
GROUP_NAMES = (
    "Tier 1", "Tier 2", "Billing Team", "Sales Team", "Escalations Desk", "Retention Team",
    "Night Shift", "Bilingual Team",
)  # fmt: skip
CHANNEL_NAMES = (
    "Main line", "Support line", "Sales line", "Billing line", "VIP line", "Partner line",
    "Press line",
)  # fmt: skip


def _named(ids: list[str], names: tuple[str, ...], fallback: str) -> list[tuple[str, str]]:
    """Names in order, then `fallback N` once the list runs out."""
    return [
        (entry_id, names[n] if n < len(names) else f"{fallback} {n + 1}")
        for n, entry_id in enumerate(ids)
    ]


def _people(ids: list[str], rng: Random) -> list[tuple[str, str]]:
    """A distinct full name for each agent id."""
    pairs = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(pairs)
    named = []
    for n, entry_id in enumerate(sorted(ids)):
        first, last = pairs[n % len(pairs)]
        suffix = f" {n // len(pairs) + 1}" if n >= len(pairs) else ""
        named.append((entry_id, f"{first} {last}{suffix}"))
    return named


def directory_for(storage: Storage, tenant_id: str, seed: int) -> list[Entry]:
    """Names for every id the tenant's calls hold, drawn from `seed`."""
    found = storage.directory_ids(tenant_id)
    rng = Random(f"directory:{tenant_id}:{seed}")
    by_volume = {kind: [entry_id for entry_id, _ in ids] for kind, ids in found.items()}
    named = {
        "agent": _people(by_volume["agent"], rng),
        "queue": _named(by_volume["queue"], QUEUE_NAMES, "Queue"),
        "group": _named(by_volume["group"], GROUP_NAMES, "Group"),
        "channel": _named(by_volume["channel"], CHANNEL_NAMES, "Line"),
    }
    return [
        Entry(kind, entry_id, name) for kind, pairs in named.items() for entry_id, name in pairs
    ]
