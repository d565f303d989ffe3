"""Credentials: an (api key, token) pair bound to one tenant, stored only as hashes.

Both halves are long random strings (not passwords), so one SHA-256 each is the right hash: a
slow password hash would add its cost to every request without making a 190-bit secret any
harder to guess. The token is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from .errors import Unauthorized
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
    if credential is None or not matches or credential.revoked_ms is not None:
        raise Unauthorized("the api key and token are not a valid credential")
    return credential
