"""A captured flow whose packets are read after the fact (see `probe.net.capture`)."""

from __future__ import annotations

from dataclasses import dataclass

from probe.model import Transport


@dataclass(frozen=True)
class Flow:
    """A captured flow whose packets are read later (`Network.packets`), with many others, once a phase of the run
    is over: read per connection, the capture's round trips and the summaries' making sat on the event loop's path,
    and a run of a thousand endpoints fell behind its own timeouts (issue 15). The packets are those between
    `since` and `until` (epoch seconds): a local port comes back in a long run, the same flow key with it."""

    proto: Transport
    local_port: int
    remote: str
    remote_port: int
    since: float
    until: float
    zero: float  # epoch time of the measurement clock's zero
    transaction_id: int
    label: str | None = None  # the far end as the summaries name it, instead of its address
