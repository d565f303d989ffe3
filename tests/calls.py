"""Hand-made calls in the import shape, for tests that need exact values."""

from __future__ import annotations

from typing import Any

from recent_calls.ingest.records import LocalTimeReader, parse_call
from recent_calls.query.windows import zone
from recent_calls.storage.base import Storage, Tenant


def make_call(call_id: str, start_ms: int, **fields: Any) -> dict[str, Any]:
    """A call starting at `start_ms` with plain defaults; `fields` override import keys."""
    call: dict[str, Any] = {
        "callId": call_id,
        "startTime": start_ms,
        "callDuration": "60000",
        "queueId": "100",
        "agentId": "agA",
        "agentGroup": "10",
        "agentCallHandlingDuration": "30000.0",
        "timeInIVR": "5000.0",
        "holdDuration": "0.0",
        "maximumHoldDuration": "0.0",
        "waitTime": "10000.0",
        "abandonTime": "0.0",
        "transferCount": "0.0",
        "muteDuration": 0,
        "callerName": "Pat Caller",
        "callerNumber": "7325550100",
        "callerPhoneNumber": "7325550100",
        "dialedNumber": "18005550000",
        "scheduleHours": "Open",
        "callType": "Inbound",
        "callSubType": "Queued",
        "hungupBy": "Caller",
        "transactionId": "1",
    }
    call.update(fields)
    return call


def rows_of(*calls: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Calls as the storage rows an import makes of them, read in GMT."""
    clock = LocalTimeReader(zone("GMT"))
    rows = []
    for call in calls:
        row, errors = parse_call(call, clock, "test")
        assert row is not None, errors
        rows.append(row)
    return rows


def bound(tenant_id: str, region: str = "us") -> Tenant:
    """The tenant as the API binds it to a caller's credential (storage reads only its calls)."""
    return Tenant(tenant_id, region, 0)


def stored(storage: Storage, tenant: str) -> dict[str, tuple[Any, ...]]:
    """(callId, start ms, caller name, queue ids) of each stored call of `tenant`, by callId;
    fails if the tenant holds a callId twice (a dict alone would hide the second)."""
    p = storage.dialect.param
    found = storage._read(
        lambda run: run(
            "SELECT call_id, start_ms, caller_name, queue_ids FROM calls "
            f"WHERE tenant_id = {p('t')}",
            {"t": tenant},
        )
    )
    calls = {row[0]: row for row in found}
    assert len(calls) == len(found), f"a callId is stored twice: {sorted(r[0] for r in found)}"
    return calls


class SteppedClock:
    """A clock that moves only when told: expiry is tested by stepping it, not by sleeping."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms
