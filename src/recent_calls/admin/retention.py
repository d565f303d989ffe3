"""Retention and erasure: deleting calls that are kept too long, or that one caller asks gone.

Both delete in bounded batches, each its own short transaction, so that queries and pushes
wait at most for one batch; every run leaves an audit entry with its count. The audit never
holds a caller's number: a salted hash of its digits lets a second request for the same
number be recognised.
"""

from __future__ import annotations

import hashlib
import re

from recent_calls.clock import Clock
from recent_calls.storage.base import AuditEntry, Storage

DAY_MS = 86_400_000
BATCH = 10_000
_UNITS = {"d": 1, "w": 7, "y": 365}
_PERIOD = re.compile(r"(\d{1,6})\s*([a-z]+)", re.ASCII)  # "٣٠d" is no period
MAX_DAYS = 100 * 365


def parse_retention(text: str) -> int | None:
    """`400d`, `8w`, `2y` as milliseconds, or `none` as None; ValueError saying why not.

    Only days, weeks and years: a period typed in seconds, minutes or hours (`400s` for `400d`)
    would delete nearly everything at the next run, so it is refused, as is anything under a day.
    """
    given = text.strip().lower()
    if given == "none":
        return None
    match = _PERIOD.fullmatch(given)
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(
            f"retention is a whole number of days, weeks or years with its unit d, w or y "
            f"(e.g. 400d, 8w, 2y), or none; not {text[:40]!r}"
        )
    days = int(match.group(1)) * _UNITS[match.group(2)]
    if days < 1:
        raise ValueError("retention must be at least 1 day (units d, w or y); 0 would delete all")
    if days > MAX_DAYS:
        raise ValueError(f"retention must be at most {MAX_DAYS} days (100y); use none to keep all")
    return days * DAY_MS


def show_retention(retention_ms: int | None) -> str:
    """A retention period as `tenant list` shows it: `400d`, or `none`."""
    return "none" if retention_ms is None else f"{retention_ms // DAY_MS}d"


def number_digits(number: str) -> str:
    """The digits of a phone number, as erasure matches them; ValueError when it has none."""
    digits = "".join(ch for ch in number if ch.isascii() and ch.isdigit())
    if not digits:
        raise ValueError(f"a number needs digits, not {number[:40]!r}")
    return digits


def caller_hash(salt: str, digits: str | None, name: str | None) -> str:
    """The salted hash the audit keeps instead of a caller's number or name."""
    material = f"{salt}\x00{digits or ''}\x00{(name or '').casefold()}"
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def apply_retention(
    storage: Storage, clock: Clock, actor: str, tenant_id: str | None = None, batch: int = BATCH
) -> dict[str, int]:
    """Delete, per tenant with a retention period (or only `tenant_id`), its calls that started
    before now minus that period; one audit entry per tenant and run. Returns the counts."""
    deleted: dict[str, int] = {}
    for tenant in storage.list_tenants():
        if tenant.retention_ms is None or tenant_id not in (None, tenant.tenant_id):
            continue
        now = clock()
        cutoff = now - tenant.retention_ms
        count = storage.delete_started_before(tenant.tenant_id, cutoff, batch)
        detail = (
            f"deleted={count} before_ms={cutoff} retention={show_retention(tenant.retention_ms)}"
        )
        storage.add_audit(
            AuditEntry(clock(), actor, "retention.apply", tenant.tenant_id, "", detail)
        )
        deleted[tenant.tenant_id] = count
    return deleted
