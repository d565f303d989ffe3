"""A circuit breaker: once a dependency is known to be down, fail at once for a few seconds.

Without one, every request to a server whose PostgreSQL is down (or whose pool is exhausted)
waits the pool's whole timeout before its 503, and every request to a hung Redis pays the
limiter's socket timeout. After `failures` failures in a row the circuit opens: callers are
refused at once for `open_s` seconds. Then one caller is let through as a probe: its success
closes the circuit, its failure opens it again. Any success on the way closes it too.

pybreaker holds one lock for the whole of every call it guards, which would serialise the
database's readers; this one takes its lock only to change state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class Breaker:
    """The state of one dependency: closed (use it), open (refuse at once), half-open (probing)."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = 3,
        open_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failures = max(1, failures)
        self.open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failed = 0
        self._opened_at = 0.0

    @property
    def state(self) -> str:
        """`closed`, `open` or `half-open` (a probe is under way)."""
        return self._state

    def retry_after(self) -> int:
        """Whole seconds until the next probe may go through (0 when closed)."""
        if self._state == CLOSED:
            return 0
        left = self._opened_at + self.open_s - self._clock()
        return max(1, int(left + 0.999))

    def allow(self) -> bool:
        """Whether a call may go to the dependency now; a True in the open state is the probe,
        which must end in `succeeded` or `failed`."""
        if self._state == CLOSED:  # the common case: no lock
            return True
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self._clock()
            # A probe that never reported (its caller died) blocks others for one period only.
            if now >= self._opened_at + self.open_s:
                self._state, self._opened_at = HALF_OPEN, now
                return True
            return False

    def succeeded(self) -> None:
        """The dependency answered."""
        if self._state == CLOSED and not self._failed:
            return
        with self._lock:
            if self._state != CLOSED:
                log.warning("%s answers again: circuit closed", self.name)
            self._state, self._failed = CLOSED, 0

    def failed(self) -> None:
        """The dependency did not answer (down, hung, or out of connections)."""
        with self._lock:
            self._failed += 1
            if self._state == HALF_OPEN or self._failed >= self.failures:
                if self._state != OPEN:
                    log.warning(
                        "%s is not answering: circuit open, calls fail at once for %.0f s",
                        self.name,
                        self.open_s,
                    )
                self._state, self._opened_at = OPEN, self._clock()
