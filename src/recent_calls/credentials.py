"""Credentials: an (api key, token) pair bound to one tenant, stored only as hashes.

Both halves are long random strings (not passwords), so one SHA-256 each is the right hash: a
slow password hash would add its cost to every request without making a 190-bit secret any
harder to guess. The token is compared in constant time.

A credential whose `revoked_ms` lies in the future is still valid until then: that is how a
rotation keeps the old credential working for a grace period next to the new one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from .errors import NotFound, Unauthorized
from .storage.base import Credential, Storage

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

    def as_json(self) -> dict[str, str]:
        return {
            "tenantId": self.tenant_id,
            "region": self.region,
            "apiKey": self.api_key,
            "token": self.token,
        }


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue(storage: Storage, tenant_id: str, region: str, label: str = "") -> IssuedCredential:
    """Create and store a new credential for an existing tenant; the secrets are returned once."""
    key_id = secrets.token_hex(4)
    api_key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
    token = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
    storage.add_credential(
        Credential(
            key_hash=digest(api_key),
            tenant_id=tenant_id,
            key_id=key_id,
            token_hash=digest(token),
            label=label,
            created_ms=time.time_ns() // 1_000_000,
        )
    )
    return IssuedCredential(tenant_id, region, key_id, api_key, token)


def authenticate(storage: Storage, api_key: str | None, token: str | None) -> Credential:
    """The live credential for this pair, or Unauthorized (the same answer for every failure)."""
    if not api_key or not token:
        missing = [name for name, value in (("8x8-apikey", api_key), ("token", token)) if not value]
        raise Unauthorized(f"missing credentials: send the {' and '.join(missing)} header")
    credential = storage.credential_by_key(digest(api_key))
    expected = credential.token_hash if credential else _DUMMY_HASH
    matches = hmac.compare_digest(expected, digest(token))
    if credential is None or not matches or not is_live(credential, _now_ms()):
        raise Unauthorized("the api key and token are not a valid credential")
    return credential


def is_live(credential: Credential, now_ms: int) -> bool:
    """Not revoked, or revoked from a time still to come (a rotated credential's grace)."""
    return credential.revoked_ms is None or credential.revoked_ms > now_ms


def rotate(
    storage: Storage, tenant_id: str, region: str, key_id: str, grace_ms: int, label: str = ""
) -> IssuedCredential:
    """Issue a new credential and let the old one (`key_id`) expire after `grace_ms`.

    Both work until then, so a client can switch to the new one without downtime.
    """
    old = next(
        (c for c in storage.list_credentials(tenant_id) if c.key_id == key_id),
        None,
    )
    if old is None or not is_live(old, _now_ms()):
        raise NotFound(f"tenant {tenant_id!r} has no live credential {key_id!r}")
    issued = issue(storage, tenant_id, region, label or old.label)
    storage.revoke_credential(tenant_id, key_id, at_ms=_now_ms() + max(0, grace_ms))
    return issued


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_grace(text: str) -> int:
    """`90s`, `30m`, `24h`, `7d` or a number of seconds, as milliseconds."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not number.isdigit():
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m, 24h or 7d")
    return int(number) * _UNITS[unit] * 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
