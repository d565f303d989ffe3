"""Fault injection: a chosen share of API requests answers 429 or 503, or is delayed.

For integrators who test their own retry logic against this server, as they would against an
emulator. Off unless configured (`recent-calls serve --fault-429 0.2 --fault-503 0.05
--fault-delay 300:0.1`, or RECENT_CALLS_FAULT_* variables). Only the Recent Calls API paths
(`/customerexperience/...`) are affected: health checks and the admin API keep working.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from recent_calls.errors import ProblemError, RateLimited, ServiceUnavailable
from recent_calls.settings import Settings

API_PREFIX = "/customerexperience/"


@dataclass(frozen=True)
class FaultPlan:
    """Shares (0..1) of API requests to answer 429 or 503, or to delay by `delay_ms`."""

    rate_429: float = 0.0
    rate_503: float = 0.0
    delay_ms: int = 0
    delay_rate: float = 1.0
    retry_after_s: int = 1
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FaultPlan:
        return cls(
            rate_429=settings.fault_rate_429,
            rate_503=settings.fault_rate_503,
            delay_ms=settings.fault_delay_ms,
            delay_rate=settings.fault_delay_rate,
            retry_after_s=settings.fault_retry_after_s,
            seed=settings.fault_seed,
        )

    @property
    def active(self) -> bool:
        return self.rate_429 > 0 or self.rate_503 > 0 or (self.delay_ms > 0 and self.delay_rate > 0)

    def describe(self) -> str:
        """One line for the startup banner; empty when no fault is configured."""
        parts = []
        if self.rate_429 > 0:
            parts.append(f"429 on {self.rate_429:.0%} (Retry-After {self.retry_after_s} s)")
        if self.rate_503 > 0:
            parts.append(f"503 on {self.rate_503:.0%}")
        if self.delay_ms > 0 and self.delay_rate > 0:
            parts.append(f"{self.delay_ms} ms delay on {self.delay_rate:.0%}")
        if not parts:
            return ""
        seed = "" if self.seed is None else f", seed {self.seed}"
        return f"Fault injection ON: {', '.join(parts)} of API requests{seed}"


class FaultInjector:
    """Draws, per API request, whether to delay it and whether to answer it with a fault
    (the request pipeline, api/pipeline.py, acts on the draw)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.random = random.Random(plan.seed)

    def _fault(self) -> ProblemError | None:
        draw = self.random.random()
        if draw < self.plan.rate_429:
            return RateLimited("Injected fault: too many requests.", self.plan.retry_after_s)
        if draw < self.plan.rate_429 + self.plan.rate_503:
            return ServiceUnavailable("Injected fault: the service is unavailable.")
        return None

    def draw(self) -> tuple[float, ProblemError | None]:
        """(seconds to wait first, the fault to answer or None)."""
        # Both draws happen for every request, so a seed replays the same faults.
        delay = self.random.random() < self.plan.delay_rate and self.plan.delay_ms > 0
        return (self.plan.delay_ms / 1000 if delay else 0.0), self._fault()

    @classmethod
    def from_settings(cls, settings: Settings) -> FaultInjector | None:
        """The injector the settings ask for; None when no fault is configured."""
        plan = FaultPlan.from_settings(settings)
        return cls(plan) if plan.active else None


def parse_delay(text: str) -> tuple[int, float]:
    """`MS` or `MS:RATE` (a delay in milliseconds, and the share of requests it applies to)."""
    delay, _, rate = text.partition(":")
    try:
        delay_ms, share = int(delay), float(rate) if rate else 1.0
    except ValueError:
        raise ValueError(f"{text!r} is not MS or MS:RATE") from None
    if delay_ms < 0 or not 0 <= share <= 1:
        raise ValueError(f"{text!r}: MS must be >= 0 and RATE within 0..1")
    return delay_ms, share
