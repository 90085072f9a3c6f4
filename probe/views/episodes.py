"""Block episodes from a daily series of a service's status in one country.

A day is blocking when its status is `blocked` or `partial` (some core endpoints blocked). An episode is a stretch
of blocking days that no `reachable` day interrupts: a day without data, or with only inconclusive runs (the
vantage points were offline), neither ends an episode nor extends it, because it says nothing about the censor.
An episode is ongoing when no day after it was seen reachable. Its first and last seen days are blocking days, so
the true start and end lie between them and the neighbouring reachable days (the page says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

BLOCKING = frozenset({"blocked", "partial"})
REACHABLE = "reachable"


@dataclass(frozen=True)
class Span:
    first: date
    last: date
    days: int  # blocking days in the span
    ongoing: bool


def find(series: Iterable[tuple[date, str]]) -> tuple[Span, ...]:
    """The episodes of `series`: (day, status) pairs in day order, one per day with data."""
    spans: list[Span] = []
    first: date | None = None
    last = first
    days = 0
    for day, status in series:
        if status in BLOCKING:
            first = first or day
            last, days = day, days + 1
        elif status == REACHABLE and first is not None and last is not None:
            spans.append(Span(first, last, days, ongoing=False))
            first, last, days = None, None, 0
    if first is not None and last is not None:
        spans.append(Span(first, last, days, ongoing=True))
    return tuple(spans)
