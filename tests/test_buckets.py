"""query/buckets.py: bucket edges for a window, in any zone, up to the calendar's ends."""

from __future__ import annotations

import pytest

from recent_calls.admin.credentials import IssuedCredential
from tests.endpoints import FAR_ZONES, STATS, auth
from tests.support import InProcessHTTP


@pytest.mark.parametrize(
    "time_range",
    [
        "253402214400000-253402300799999",
        "253402297200000-253402300799999",
        "0-86399999",
        "0-3599999",
    ],
)
@pytest.mark.parametrize("interval", ["hour", "day"])
@pytest.mark.parametrize("timezone", FAR_ZONES)
def test_stats_over_a_window_at_the_calendars_ends_never_overflow(
    http: InProcessHTTP, acme: IssuedCredential, time_range: str, interval: str, timezone: str
) -> None:
    body = {"tenantId": "acme", "timeRange": time_range, "interval": interval}
    answer = http.post(STATS, json={**body, "timezone": timezone}, headers=auth(acme))
    assert answer.status_code == 200, answer.text
    buckets = answer.json()["buckets"]
    assert buckets and all(b["start"] < b["end"] for b in buckets)
