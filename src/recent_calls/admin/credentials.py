"""Credentials: an (api key, token) pair bound to one tenant, stored only as hashes.

Both halves are long random strings (not passwords), so one SHA-256 each is the right hash: a
slow password hash would add its cost to every request without making a 190-bit secret any
harder to guess. The token is compared in constant time.

A credential whose `revoked_ms` lies in the future is still valid until then: that is how a
rotation keeps the old credential working for a grace period next to the new one. Every time
here comes from the caller's `Clock`, so a frozen clock (RECENT_CALLS_NOW) governs expiry too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from recent_calls.clock import Clock
from recent_calls.errors import NotFound, Unauthorized
from recent_calls.fields import SCOPES
from recent_calls.storage.base import Credential, Storage, Tenant

API_KEY_PREFIX = "rck_"
_DUMMY_HASH = hashlib.sha256(b"no such credential").hexdigest()


@dataclass(frozen=True)
class IssuedCredential:
    """A credential as shown once to its owner, secrets included."""

    tenant_id: str
    region: str
    key_id: str
    api_key: str
    token: str
    scopes: tuple[str, ...] = SCOPES

    def as_json(self) -> dict[str, str | list[str]]:
        return {
            "tenantId": self.tenant_id,
            "region": self.region,
            "apiKey": self.api_key,
            "token": self.token,
            "scopes": list(self.scopes),
        }


def parse_scopes(given: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`read`, `push` or both (`read,push` or a list), in SCOPES order; ValueError naming the
    scopes that exist when a part is not one of them or none is given."""
    parts = given.split(",") if isinstance(given, str) else list(given)
    names = {part.strip().lower() for part in parts if part.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown or not names:
        shown = ", ".join(repr(name[:40]) for name in unknown) or "nothing"
        raise ValueError(f"scopes are read, push or read,push, not {shown}")
    return tuple(scope for scope in SCOPES if scope in names)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_credential(
    tenant_id: str, region: str, now_ms: int, label: str = "", scopes: tuple[str, ...] = SCOPES
) -> tuple[IssuedCredential, Credential]:
    """A fresh credential: the secrets to show once, and the hashes to store."""
    key_id = secrets.token_hex(4)
    api_key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
    token = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
    stored = Credential(
        key_hash=digest(api_key),
        tenant_id=tenant_id,
        key_id=key_id,
        token_hash=digest(token),
        label=label,
        created_ms=now_ms,
        scopes=scopes,
    )
    return IssuedCredential(tenant_id, region, key_id, api_key, token, scopes), stored


def issue(
    storage: Storage,
    tenant_id: str,
    region: str,
    label: str = "",
    *,
    now_ms: int | None = None,
    scopes: tuple[str, ...] = SCOPES,
) -> IssuedCredential:
    """Create and store a new credential for an existing tenant; the secrets are returned once.
    It is made at `now_ms`, by default the storage's clock."""
    now_ms = storage.clock() if now_ms is None else now_ms
    issued, stored = new_credential(tenant_id, region, now_ms, label, scopes)
    storage.add_credential(stored)
    return issued


def is_live(credential: Credential, now_ms: int) -> bool:
    """Not revoked, or revoked from a time still to come (a rotated credential's grace)."""
    return credential.revoked_ms is None or credential.revoked_ms > now_ms


def _missing(api_key: str | None, token: str | None) -> Unauthorized:
    missing = [name for name, value in (("8x8-apikey", api_key), ("token", token)) if not value]
    return Unauthorized(f"missing credentials: send the {' and '.join(missing)} header")


_INVALID = "the api key and token are not a valid credential"


class Authenticator:
    """Checks (api key, token) pairs and finds tenants, keeping what it found in memory.

    Only credentials that exist and tenants are kept, never a failed look-up (so a flood of
    random keys cannot fill the cache). What is kept is dropped as soon as this process's
    storage changes a tenant or credential (`Storage.auth_generation`): for the embedded engine,
    whose every change passes through this process, that is exact. Other processes can change a
    shared server database, so there every entry also lives at most `ttl_s` seconds: a
    credential revoked elsewhere stops working within that time.
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        ttl_s: float | None,
        max_entries: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.ttl_s = ttl_s
        self.timer = timer
        self.max_entries = max_entries
        self._credentials: OrderedDict[str, tuple[float, Credential]] = OrderedDict()
        self._tenants: dict[str, tuple[float, Tenant]] = {}
        self._generation = storage.auth_generation
        self._lock = threading.Lock()

    def _fresh(self, stamp: float) -> bool:
        return self.ttl_s is None or self.timer() - stamp < self.ttl_s

    def _sync_generation(self) -> None:
        generation = self.storage.auth_generation
        if generation != self._generation:
            self._credentials.clear()
            self._tenants.clear()
            self._generation = generation

    def _check(self, credential: Credential | None, token: str) -> Credential:
        expected = credential.token_hash if credential else _DUMMY_HASH
        matches = hmac.compare_digest(expected, digest(token))
        if credential is None or not matches or not is_live(credential, self.clock()):
            raise Unauthorized(_INVALID)
        return credential

    def cached(self, api_key: str | None, token: str | None) -> Credential | None:
        """The credential from memory, with no database work; None when it must be looked up.
        Raises Unauthorized for a pair that is missing a half or does not match what is kept."""
        if not api_key or not token:
            raise _missing(api_key, token)
        with self._lock:
            self._sync_generation()
            entry = self._credentials.get(digest(api_key))
            if entry is None or not self._fresh(entry[0]):
                return None
        return self._check(entry[1], token)

    def authenticate(self, api_key: str | None, token: str | None) -> Credential:
        """The live credential for this pair, or Unauthorized (the same answer for every
        failure); looks it up in the database when it is not kept."""
        if not api_key or not token:
            raise _missing(api_key, token)
        key_hash = digest(api_key)
        with self._lock:
            self._sync_generation()
            generation = self._generation
        credential = self.storage.credential_by_key(key_hash)
        if credential is not None:
            with self._lock:
                if self._generation == generation == self.storage.auth_generation:
                    self._credentials[key_hash] = (self.timer(), credential)
                    while len(self._credentials) > self.max_entries:
                        self._credentials.popitem(last=False)
        return self._check(credential, token)

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant called `tenant_id`, if there is one."""
        with self._lock:
            self._sync_generation()
            entry = self._tenants.get(tenant_id)
            generation = self._generation
        if entry is not None and self._fresh(entry[0]):
            return entry[1]
        tenant = self.storage.get_tenant(tenant_id)
        if tenant is not None:
            with self._lock:
                if self._generation == generation and len(self._tenants) < self.max_entries:
                    self._tenants[tenant_id] = (self.timer(), tenant)
        return tenant


def rotate(
    storage: Storage,
    tenant_id: str,
    region: str,
    key_id: str,
    grace_ms: int,
    label: str = "",
    *,
    now_ms: int | None = None,
) -> IssuedCredential:
    """Issue a new credential and let the old one (`key_id`) expire after `grace_ms`.

    Both work until then, so a client can switch to the new one without downtime.
    """
    now_ms = storage.clock() if now_ms is None else now_ms
    old = next(
        (c for c in storage.list_credentials(tenant_id) if c.key_id == key_id),
        None,
    )
    if old is None or not is_live(old, now_ms):
        raise NotFound(f"tenant {tenant_id!r} has no live credential {key_id!r}")
    # The new credential may do exactly what the old one could.
    issued = issue(storage, tenant_id, region, label or old.label, now_ms=now_ms, scopes=old.scopes)
    storage.revoke_credential(tenant_id, key_id, at_ms=now_ms + max(0, grace_ms))
    return issued


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_grace(text: str) -> int:
    """`90s`, `30m`, `24h`, `7d` or a number of seconds, as milliseconds."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not (number.isdigit() and number.isascii()):
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m, 24h or 7d")
    return int(number) * _UNITS[unit] * 1000
