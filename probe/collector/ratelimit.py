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
    """`rate` uploads per second on average, bursts of up to `burst` (a probe draining a week-old backlog). At most
    `entries` buckets are kept: a bucket that has refilled is the same as none and is dropped first, then the
    least recently used ones (which lets those start again from a full bucket: the price of bounded memory)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, entries: int = 50_000
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.entries = entries
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when); least recently used first

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds until a token is free (for Retry-After)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, when = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.entries:
                self._shrink(now)
        return 0.0 if allowed else (1.0 - tokens) / self.rate

    def _shrink(self, now: float) -> None:
        # Down to nine tenths, so that a full table is swept once per tenth of its size rather than on every call.
        for key, (tokens, when) in list(self._buckets.items()):
            if tokens + (now - when) * self.rate >= self.burst:
                del self._buckets[key]
        excess = len(self._buckets) - self.entries * 9 // 10
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]
