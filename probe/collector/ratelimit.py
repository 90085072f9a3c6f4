"""Per-probe rate limit: a token bucket per probe id, in the collector process's memory.

Keyed by the probe id only after the signature holds, so nobody can spend another probe's allowance. Each
collector process keeps its own buckets: N processes behind one address allow up to N times the rate, which is
fine for a limit whose job is to keep one misbehaving probe from crowding out the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`rate` uploads per second on average, bursts of up to `burst` (a probe draining a week-old backlog)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # probe id -> (tokens, when)

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds until a token is free (for Retry-After)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, when = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                allowed = True
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
            if len(self._buckets) > 100_000:
                self._forget_full(now)
        return 0.0 if allowed else (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those to bound memory.
        for key, (tokens, when) in list(self._buckets.items()):
            if tokens + (now - when) * self.rate >= self.burst:
                del self._buckets[key]
