"""Credentials: issuing, checking, the authenticator's cache, and how long a revocation takes."""

from __future__ import annotations

import pytest

from recent_calls.admin.credentials import Authenticator, IssuedCredential, digest, issue
from recent_calls.errors import Unauthorized
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.calls import SteppedClock

NOW = 1_710_345_600_000


class Timer:
    """A monotonic timer that moves only when told (the cache's age, not the wall clock)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def acme(storage: Storage) -> IssuedCredential:
    storage.clock = SteppedClock(NOW)
    storage.create_tenant("acme", "us")
    return issue(storage, "acme", "us")


def lookups(storage: Storage, work: object) -> int:
    """How many credential look-ups `work()` made in the database."""
    with storage.trace() as seen:
        work()  # type: ignore[operator]
    return sum("FROM credentials" in sql for sql, _ in seen)


def test_only_hashes_are_stored(storage: Storage, acme: IssuedCredential) -> None:
    (stored,) = storage.list_credentials("acme")
    assert stored.key_hash == digest(acme.api_key) and stored.token_hash == digest(acme.token)
    assert acme.api_key not in repr(stored) and acme.token not in repr(stored)
    assert stored.created_ms == NOW  # the storage's clock, not the wall clock


def test_a_known_credential_is_looked_up_once_then_served_from_memory(
    storage: Storage, acme: IssuedCredential
) -> None:
    auth = Authenticator(storage, storage.clock, ttl_s=None)
    assert auth.cached(acme.api_key, acme.token) is None
    assert lookups(storage, lambda: auth.authenticate(acme.api_key, acme.token)) == 1
    assert lookups(storage, lambda: auth.cached(acme.api_key, acme.token)) == 0
    assert auth.cached(acme.api_key, acme.token) is not None


@pytest.mark.parametrize("token", ["", "wrong", "3f1b0000-0000-4000-8000-000000000000"])
def test_a_wrong_or_missing_token_is_refused_even_when_the_key_is_kept(
    storage: Storage, acme: IssuedCredential, token: str
) -> None:
    auth = Authenticator(storage, storage.clock, ttl_s=None)
    auth.authenticate(acme.api_key, acme.token)
    with pytest.raises(Unauthorized):
        auth.cached(acme.api_key, token)
    with pytest.raises(Unauthorized):
        auth.authenticate(acme.api_key, token)


def test_failed_look_ups_are_not_kept(storage: Storage, acme: IssuedCredential) -> None:
    auth = Authenticator(storage, storage.clock, ttl_s=None)
    for n in range(3):
        with pytest.raises(Unauthorized):
            auth.authenticate(f"rck_nobody_{n}", acme.token)
    assert auth.cached("rck_nobody_0", acme.token) is None  # still a database question


def test_a_change_through_this_storage_takes_effect_at_once(
    storage: Storage, acme: IssuedCredential
) -> None:
    auth = Authenticator(storage, storage.clock, ttl_s=None)
    auth.authenticate(acme.api_key, acme.token)
    assert storage.revoke_credential("acme", acme.key_id)
    assert auth.cached(acme.api_key, acme.token) is None
    with pytest.raises(Unauthorized):
        auth.authenticate(acme.api_key, acme.token)


def test_a_credential_in_its_grace_period_expires_by_the_clock(
    storage: Storage, acme: IssuedCredential
) -> None:
    clock = storage.clock
    assert isinstance(clock, SteppedClock)
    storage.revoke_credential("acme", acme.key_id, at_ms=NOW + 1000)
    auth = Authenticator(storage, clock, ttl_s=None)
    assert auth.authenticate(acme.api_key, acme.token).key_id == acme.key_id
    clock.advance(999)
    assert auth.cached(acme.api_key, acme.token) is not None
    clock.advance(1)
    with pytest.raises(Unauthorized):
        auth.cached(acme.api_key, acme.token)


def test_a_revocation_by_another_process_takes_effect_within_the_ttl(
    storage: Storage, acme: IssuedCredential, database: str, engine: str
) -> None:
    if engine != "postgres":
        # DuckDB: one process holds the file, so every change passes through its storage.
        assert not storage.shared
        return
    assert storage.shared
    timer = Timer()
    auth = Authenticator(storage, storage.clock, ttl_s=5.0, timer=timer)
    auth.authenticate(acme.api_key, acme.token)
    other = open_storage(database, clock=storage.clock)  # another API replica, or the CLI
    try:
        assert other.revoke_credential("acme", acme.key_id)
    finally:
        other.close()
    timer.now = 4.9
    assert auth.cached(acme.api_key, acme.token) is not None  # stale, within the bound
    timer.now = 5.0
    assert auth.cached(acme.api_key, acme.token) is None
    with pytest.raises(Unauthorized):
        auth.authenticate(acme.api_key, acme.token)


def test_tenants_are_kept_too_and_refreshed_on_change(
    storage: Storage, acme: IssuedCredential
) -> None:
    auth = Authenticator(storage, storage.clock, ttl_s=None)
    assert auth.tenant("nobody") is None
    assert auth.tenant("acme") is not None
    with storage.trace() as seen:
        assert auth.tenant("acme") is not None
    assert seen == []
    storage.create_tenant("beta", "uk")
    beta = auth.tenant("beta")
    assert beta is not None and beta.region == "uk"
