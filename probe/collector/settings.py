"""What `probe collector serve` configures, shared by its worker processes through one environment variable
(`PROBE_COLLECTOR_SETTINGS`, JSON), as the helper's processes share theirs: the app (app.py) and the connection
guard (guard.py) both read it here, so neither imports the other for it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from probe.collector.ingest import DEFAULT_MAX_BYTES

SETTINGS_VARIABLE = "PROBE_COLLECTOR_SETTINGS"


@dataclass(frozen=True)
class Limits:
    """Per-connection deadlines and caps (probe.collector.guard says why each)."""

    header_timeout: float = 10.0
    body_timeout: float = 120.0
    max_header_bytes: int = 16 * 1024
    connections_per_address: int = 16  # 0: no cap
    uncapped: frozenset[str] = frozenset()  # trusted proxies


@dataclass(frozen=True)
class CollectorSettings:
    """What `probe collector serve` configures."""

    store: str
    endpoint_url: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    rate: float = 2.0  # uploads per second per probe, on average
    burst: int = 120  # a probe may send this many at once (a backlog after a week offline)
    new_keys_per_hour: int = 20  # keys first seen from one client address (a /64 for IPv6); 0: no limit
    header_timeout: float = 10.0
    body_timeout: float = 120.0
    max_header_bytes: int = 16 * 1024
    connections_per_address: int = 16  # per worker process; 0: no cap
    trusted_proxies: tuple[str, ...] = ()  # reverse proxies whose X-Forwarded-For names the client

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls, text: str) -> CollectorSettings:
        values = json.loads(text)
        values["trusted_proxies"] = tuple(values.get("trusted_proxies", ()))
        return cls(**values)

    def limits(self) -> Limits:
        """The connection limits (probe.collector.guard)."""
        return Limits(
            self.header_timeout,
            self.body_timeout,
            self.max_header_bytes,
            self.connections_per_address,
            frozenset(self.trusted_proxies),
        )
