"""The upload's decision table (contract, "Upload") and its backoff arithmetic: pure logic, no network."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from probe.local.upload import BACKOFF_BASE, BACKOFF_CAP, backoff_delay, classify, parse_retry_after


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (201, "stored"),
        (200, "duplicate"),
        (400, "refused"),
        (403, "refused"),
        (413, "refused"),
        (422, "refused"),
        (404, "refused"),
        (408, "retry"),
        (425, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (302, "retry"),
    ],
)
def test_each_status_means_what_the_contract_says(status: int, kind: str) -> None:
    assert classify(status, {}, b"", 0.0).kind == kind


def test_the_collectors_reason_is_kept() -> None:
    answer = classify(422, {}, b'{"status":"refused","code":"json","reason":"line 3: not JSON"}', 0.0)
    assert answer.reason == "line 3: not JSON"


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert classify(429, {"retry-after": "7"}, b"", now.timestamp()).retry_after == 7.0
    later = format_datetime(now + timedelta(minutes=2), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(120.0)
    assert parse_retry_after("soon", now.timestamp()) is None
    assert parse_retry_after(None, 0.0) is None


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    first = [backoff_delay(1, rng) for _ in range(200)]
    assert all(BACKOFF_BASE / 2 <= d <= BACKOFF_BASE for d in first)
    assert len({round(d, 3) for d in first}) > 150  # jitter: a fleet does not come back in step
    fifth = [backoff_delay(5, rng) for _ in range(50)]
    assert min(fifth) >= BACKOFF_BASE * 16 / 2
    assert all(BACKOFF_CAP / 2 <= backoff_delay(n, rng) <= BACKOFF_CAP for n in (20, 100, 10_000))
