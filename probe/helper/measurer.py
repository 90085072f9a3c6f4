"""The helper's measurement loop: every `every` seconds (and when ids are asked for on demand), measure the target
lists with the probe's own runner over the real network, write the helper's signed result file (its own
measurements, `vantage_role` control, for the dataset), then the signed view the HTTP face serves.

It runs in a process of its own (`python -m probe.helper.measurer`, started by `probe helper serve`), so that a
flood of view requests cannot delay its event loop: a measurement whose loop fell behind would be worth nothing,
here as in a probe. The view is written signature first, then the view itself, each atomically; the HTTP face
takes a pair only when the signature's sha256 is the view's.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probe import atomicfile, signing
from probe import helperview as view
from probe.helper.settings import SETTINGS_VARIABLE, HelperSettings
from probe.minisign import SecretKey
from probe.model import HelperEndpoint, Target

if TYPE_CHECKING:
    from probe.runner import RunConfig

DEMAND_POLL = 1.0  # seconds between looks into the demand folder while waiting for the next round
UPLOAD_BUDGET = 60.0  # seconds a round may spend uploading its result file
MAX_DEMAND_BYTES = 65536  # a demand file holds a list of ids: the HTTP face takes bodies of at most 16 kB


class Measurer:
    """The loop's state: the secret key, the lists, and the latest entry of every endpoint."""

    def __init__(self, settings: HelperSettings, targets: Sequence[Target], secret: SecretKey) -> None:
        self.settings = settings
        self.targets = tuple(targets)
        self.secret = secret
        self.entries: dict[str, HelperEndpoint] = {}
        self.by_id = {t.id: t for t in self.targets if t.id and not t.is_control}

    async def forever(self) -> None:
        while True:
            started = time.monotonic()
            await self.round(self.targets)
            await self.wait(started + self.settings.every)

    async def wait(self, until: float) -> None:
        """Sleep until the next round is due, measuring what is asked for on demand meanwhile."""
        while time.monotonic() < until:
            wanted = self.take_demands()
            if wanted:
                controls = tuple(t for t in self.targets if t.is_control)
                await self.round(controls + tuple(self.by_id[i] for i in sorted(wanted)))
            else:
                await asyncio.sleep(min(DEMAND_POLL, max(0.0, until - time.monotonic())))

    def take_demands(self) -> set[str]:
        """The known ids of every waiting demand file (each removed once read)."""
        folder = self.settings.demand_dir
        wanted: set[str] = set()
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return wanted
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue  # the HTTP face's temporary file, about to be renamed into place
            path = folder / name
            try:
                with path.open("rb") as handle:
                    ids = json.loads(handle.read(MAX_DEMAND_BYTES)).get("ids", [])
                wanted.update(str(i) for i in ids if str(i) in self.by_id)
            except (OSError, ValueError, AttributeError):
                pass  # a foreign or garbled file (the HTTP face writes them atomically): dropped
            path.unlink(missing_ok=True)
        return wanted

    async def round(self, targets: Sequence[Target]) -> None:
        """Measure `targets` (controls included) once; refresh their entries, the view, and the result files."""
        from probe import runner

        config = self.run_config(targets)
        outcome = await runner.run_async(config, signer=self.sign_result)
        for m, v in zip(outcome.measured, outcome.verdicts, strict=True):
            e = view.entry(m, v, outcome.vantage)
            if e is not None:
                self.entries[e.id] = e
        self.publish()
        if self.settings.collector_url and outcome.result_file and outcome.signature_file:
            await asyncio.to_thread(self.upload, outcome.result_file, outcome.signature_file)
        self.prune(outcome.result_file)

    def prune(self, written: Path | None) -> None:
        """Keep the results folder within `keep_days` and `keep_megabytes` (the file just written stays)."""
        from probe.local import retention

        s = self.settings
        retention.prune(s.state / "results", s.keep_days, s.keep_megabytes, keep=[written] if written else [])

    def run_config(self, targets: Sequence[Target]) -> RunConfig:
        from probe.net.doh import DEFAULT_DOH
        from probe.runner import RunConfig

        s = self.settings
        return RunConfig(
            targets=tuple(targets),
            resolver=s.resolver,
            resolver_port=s.resolver_port,
            resolver_label=s.resolver_label,
            doh_urls=s.doh or DEFAULT_DOH,
            ca_files=tuple(Path(p) for p in s.ca_files),
            timeout=s.timeout,
            results_dir=s.state / "results",
            options=(f"timeout={s.timeout:g}", f"resolver={s.resolver_label}", "vantage_role=control"),
            annotations=(("vantage_role", "control"),),
            probe_cc=s.probe_cc,
            probe_asn=s.probe_asn,
            capture=False,  # the view needs no packets, and the helper needs no privileges
        )

    def sign_result(self, data: bytes, name: str) -> bytes:
        return signing.sign_result(data, name, self.secret)

    def publish(self) -> None:
        """Write the signed view of every endpoint's latest entry (signature first; see the module docstring)."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        order = {t.id: n for n, t in enumerate(self.targets)}
        entries = sorted(self.entries.values(), key=lambda e: order.get(e.id, len(order)))
        data = view.encode(entries, now, self.settings.probe_cc, self.settings.probe_asn)
        minisig = signing.sign_result(data, view.FILE_NAME, self.secret)
        atomicfile.write_atomic(self.settings.signature_path, minisig)
        atomicfile.write_atomic(self.settings.view_path, data)

    def upload(self, result_file: Path, signature_file: Path) -> None:
        """Seal the result file into the helper's spool and drain it to the collector (never raises: what is not
        delivered now waits in the spool for the next round)."""
        from probe.local.spool import Spool
        from probe.local.upload import Uploader, drain

        spool = Spool(self.settings.state / "spool")
        public = self.secret.public_key().to_base64()
        try:
            spool.seal(result_file.read_bytes(), signature_file.read_bytes(), result_file.name, public)
            report = drain(
                spool,
                Uploader(self.settings.collector_url or "", self.settings.socks_proxy),
                budget=UPLOAD_BUDGET,
                default_public_key=public,
            )
        except OSError as exc:
            print(f"probe helper: cannot queue {result_file.name} for upload: {exc}", file=sys.stderr)
            return
        if report.last_error:
            print(f"probe helper: {report.summary()} ({report.last_error})", file=sys.stderr)


def main() -> None:
    """The measurer process: settings from the environment, then the loop until killed."""
    from probe import targets as target_lists
    from probe.local import keys

    settings = HelperSettings.from_environment(os.environ[SETTINGS_VARIABLE])
    chosen = target_lists.load([Path(p) for p in settings.targets] or None)
    if settings.services:
        chosen = target_lists.select(chosen, settings.services)
    secret = keys.load_or_create(settings.key_dir)
    settings.demand_dir.mkdir(parents=True, exist_ok=True)
    if stat.S_ISFIFO(os.fstat(0).st_mode):  # started by `probe helper serve` (serve.py): stop when it is gone
        threading.Thread(target=_exit_at_end_of_input, name="parent-watch", daemon=True).start()
    asyncio.run(Measurer(settings, chosen, secret).forever())


def _exit_at_end_of_input() -> None:
    """Wait for the end of stdin, the pipe from `probe helper serve`: it comes when that process has exited. The
    views are written atomically, so stopping between two writes loses nothing."""
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
