"""The clock as a parameter: observations carry times relative to the start of a measurement."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def relative_clock(start: float | None = None) -> Clock:
    """A clock reading seconds since `start` (now, by default), from the monotonic clock."""
    zero = time.monotonic() if start is None else start
    return lambda: round(time.monotonic() - zero, 6)
