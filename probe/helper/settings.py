"""What `probe helper serve` configures, shared by its two processes (the HTTP face and the measurer) through one
environment variable, as the collector's workers share theirs.

The state folder holds everything the helper keeps:

    <state>/key/probe.key, probe.pub   the helper's own minisign key pair (made on first use, as a probe's)
    <state>/view.json, view.json.minisig   the latest signed view (the measurer writes, the HTTP face serves)
    <state>/demand/<random>.json        endpoint ids asked for on demand, waiting for the measurer
    <state>/results/YYYY-MM-DD/*.jsonl  the helper's own result files (signed), and <state>/spool for uploads
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

SETTINGS_VARIABLE = "PROBE_HELPER_SETTINGS"
VIEW_NAME = "view.json"
DEMAND_DIR = "demand"
MAX_DEMANDS = 64  # on-demand requests waiting at once; more are answered 503


@dataclass(frozen=True)
class HelperSettings:
    state_dir: str
    targets: tuple[str, ...] = ()  # target list files; empty: the bundled lists
    services: tuple[str, ...] = ()  # only these services (and the controls)
    resolver: str = "127.0.0.1"  # the resolver under test at the helper (its label in result files below)
    resolver_port: int = 53
    resolver_label: str = "system"
    doh: tuple[str, ...] = ()  # empty: the probe's defaults
    ca_files: tuple[str, ...] = ()
    timeout: float = 5.0
    every: float = 300.0  # seconds from the start of one round to the start of the next
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    collector_url: str | None = None  # upload the helper's own result files there
    socks_proxy: str | None = None
    rate: float = 1.0  # view requests per second per caller, on average
    burst: int = 30
    demand_rate: float = 1 / 60  # on-demand measurements per second per caller
    demand_burst: int = 3
    # The helper's own result files in <state>/results: a round every 5 minutes writes some 300 a day, so they are
    # pruned after each round (the dataset keeps them once uploaded; the spool has its own cap).
    keep_days: int = 7
    keep_megabytes: int = 1000

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def view_path(self) -> Path:
        return self.state / VIEW_NAME

    @property
    def signature_path(self) -> Path:
        return self.state / (VIEW_NAME + ".minisig")

    @property
    def demand_dir(self) -> Path:
        return self.state / DEMAND_DIR

    @property
    def key_dir(self) -> Path:
        return self.state / "key"

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls, text: str) -> HelperSettings:
        raw = json.loads(text)
        for key in ("targets", "services", "doh", "ca_files"):
            raw[key] = tuple(raw.get(key) or ())
        return cls(**raw)
