"""A whole run: controls first (is the vantage point online?), then every target concurrently, the controls
again, the analysis, and the result file.

Controls run before targets on purpose: a censor that blocks a (client, server, port) for a while after a trigger
(measurement.md, "residual censorship") would otherwise spoil the controls that judge the targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import resource
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from probe import analysis, atomicfile, report, trim, wire
from probe.analysis import VantageFacts
from probe.measure import ByteBudget, Plan, TransferPlan, measure_many, recheck
from probe.model import (
    DNSAnswer,
    EndpointVerdict,
    HelperEndpoint,
    Measured,
    Observations,
    ServiceVerdict,
    Tag,
    Target,
    VantageStatus,
)
from probe.net import Network
from probe.net.clock import relative_clock

if TYPE_CHECKING:
    from probe.net.capture import Capture
    from probe.net.helper import HelperAnswer

T = TypeVar("T")
Signer = Callable[[bytes, str], bytes]  # (file bytes, file name) -> minisig file bytes
HelperFetch = Callable[[], Awaitable["HelperAnswer"]]  # asks the control vantage for its view, once per run


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, already validated by the command line."""

    targets: tuple[Target, ...]
    resolver: str
    resolver_port: int = 53
    resolver_label: str = "system"
    doh_urls: tuple[str, ...] = ()
    ca_files: tuple[Path, ...] = ()
    timeout: float = 5.0
    late_window: float = 2.0
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    results_dir: Path = Path("results")
    # Where the result goes when `results_dir` cannot take it after all (the disk filled during the run): what was
    # measured is written somewhere rather than lost (issue 21).
    fallback_dir: Path | None = None
    options: tuple[str, ...] = ()
    capture: bool = True  # sniff the probe's own flows when allowed (root or CAP_NET_RAW); --no-capture says no
    asn_databases: tuple[Path, ...] = ()  # MaxMind-format databases that give DNS answers their AS numbers
    annotations: tuple[tuple[str, str], ...] = ()  # added to every line's OONI annotations (upload spool drops)
    # The control vantage (`probe helper serve`): its base URLs, tried in turn, the public keys (minisign, base64)
    # its view must be signed with, and the SOCKS proxy uploads use (the request goes the same way).
    helper_urls: tuple[str, ...] = ()
    helper_keys: tuple[str, ...] = ()
    helper_proxy: str | None = None
    transfer: bool = True  # the capped stall/throttle transfers (issue 16); --no-transfer says no
    anchors: tuple[tuple[str, Path], ...] = ()  # --anchor NAME=FILE: bundled trust anchors replaced
    # Called once per endpoint step done (controls count twice: before and after the targets): `progress_total`.
    progress: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, repr=False)
class RunOutcome:
    """What a run found and where it wrote it."""

    measured: tuple[Measured, ...]
    verdicts: tuple[EndpointVerdict, ...]
    services: tuple[ServiceVerdict, ...]
    vantage: VantageFacts
    result_file: Path | None = None
    signature_file: Path | None = None
    data: bytes = field(default=b"", repr=False)
    capture: str = "off"  # "on", or why not

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run's signal handling puts the main task's repr, result included, into two
        # error messages as the run ends (signal.getsignal's enum lookup), and the whole measured run as a
        # dataclass repr took 1.2 s at a thousand endpoints.
        return f"RunOutcome({len(self.measured)} endpoints, result_file={self.result_file})"


def timeout_chain(timeout: float, late_window: float) -> float:
    """The longest one endpoint can take, in seconds: DNS (timeout, then the late-answer window), the control
    SNI (connect, handshake), the concurrent tries and the extra tries (each connect, handshake), the control SNI
    again. Preflight and after-flight controls add one chain each before and after."""
    return (timeout + late_window) + 2 * timeout * 4


def socket_budget() -> int:
    """How many sockets a run may hold open at once: raise the soft descriptor limit to the hard one (allowed
    without privileges, up to 65536) and leave room for files and the interpreter.

    An endpoint holds up to three DNS sockets through their late-answer windows and up to twelve connections at
    once, so a thousand endpoints want some ten thousand. Where the limit is lower, operations queue for a
    socket: the run takes longer, but a queued operation's timeout has not started, so no verdict changes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return max(16, int(min(soft, 65536)) - 128)


async def measure_all(
    config: RunConfig, net: Network, helper: HelperFetch | None = None
) -> tuple[tuple[Measured, ...], VantageFacts]:
    """Measure controls, then targets, then controls again; in the order of `config.targets`. The event loop's
    own delay is watched throughout: a probe that fell behind its timeouts must not call anything blocked.
    `helper` asks the control vantage for its view, beside the controls: its addresses join the targets'."""
    lag = _LagWatch()
    watcher = asyncio.create_task(lag.watch())
    try:
        measured, vantage = await _measure_all(config, net, helper)
    finally:
        watcher.cancel()
    # A late wake-up only hurts an operation whose answer arrives in the last stretch before its timeout (the
    # loop handles ready sockets before due timers), so half the timeout is the line.
    overloaded = lag.worst > config.timeout / 2
    return measured, dataclasses.replace(vantage, loop_lag=lag.worst, overloaded=overloaded)


class _LagWatch:
    """How late the event loop wakes up: a sleep of 50 ms that takes 1.5 s means every operation waited too."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def watch(self, every: float = 0.05) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(every)
            self.worst = max(self.worst, loop.time() - start - every)


async def _measure_all(
    config: RunConfig, net: Network, helper: HelperFetch | None
) -> tuple[tuple[Measured, ...], VantageFacts]:
    controls = [t for t in config.targets if t.is_control]
    targets = [t for t in config.targets if not t.is_control]
    plan = Plan(
        resolver=config.resolver,
        resolver_port=config.resolver_port,
        resolver_label=config.resolver_label,
        doh_urls=config.doh_urls,
        round_wait=config.timeout + 1,
        # One budget for the whole run; a silence of one operation timeout is a stall.
        transfer=TransferPlan(ByteBudget(), stall_window=config.timeout) if config.transfer else None,
    )
    tick = _ticker(config.progress)
    step_done = config.progress or (lambda: None)
    asking = asyncio.ensure_future(helper()) if helper is not None else None
    preflight = list(await measure_many(controls, net, plan, tags=(Tag.PREFLIGHT.value,), done=step_done))
    answer = await asking if asking is not None else None
    helper_entries = _helper_entries(answer, config.targets)
    plan = dataclasses.replace(
        plan, helper_addresses={t.host: helper_entries[t.id].addresses for t in targets if t.id in helper_entries}
    )
    vantage = analysis.assess(preflight)
    done: dict[int, Measured] = {}
    if controls and vantage.status is VantageStatus.OFFLINE:
        skipped = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        for t in targets:
            done[id(t)] = Measured(target=t, start_time=skipped, runtime=0.0, observations=Observations())
        for _ in range(len(targets) + len(controls)):
            await tick(asyncio.sleep(0))
    else:
        non_resolver = _non_resolver(preflight)
        if non_resolver is not None:
            preflight[0] = await _ask_non_resolver(preflight[0], non_resolver, net)
        # Where the controls' own tries failed, a target whose tries all fail gets the extra tries too (loss).
        target_plan = dataclasses.replace(
            plan, non_resolver=non_resolver, extend_when_all_fail=vantage.control_try_failures > 0
        )
        measured = await measure_many(targets, net, target_plan, ramp=RAMP, done=step_done)
        done.update((id(m.target), m) for m in measured)
        preflight = list(
            await asyncio.gather(*(tick(recheck(m, net, tags=(Tag.AFTERFLIGHT.value,))) for m in preflight))
        )
        # Without controls, the targets themselves must show that the network works (issue 15).
        vantage = analysis.assess(preflight, measured)
    done.update((id(m.target), m) for m in preflight)
    measured_all = tuple(_with_helper(done[id(t)], helper_entries) for t in config.targets)
    if answer is not None:
        vantage = dataclasses.replace(vantage, helper=answer.status, helper_reasons=answer.reasons)
    return measured_all, vantage


def _helper_entries(answer: HelperAnswer | None, targets: Sequence[Target]) -> dict[str, HelperEndpoint]:
    """The helper's entries for this run's targets, by endpoint id."""
    if answer is None or answer.status != "ok":
        return {}
    from probe.helperview import for_targets

    return for_targets(answer.entries, targets)


def _with_helper(measured: Measured, entries: dict[str, HelperEndpoint]) -> Measured:
    entry = entries.get(measured.target.id or "")
    return measured if entry is None else measured.model_copy(update={"helper": entry})


def progress_total(targets: Sequence[Target]) -> int:
    """How many times a run calls `RunConfig.progress`."""
    return len(targets) + sum(1 for t in targets if t.is_control)


# Seconds between the starts of two endpoints (their DNS, then their tries): starting a thousand at once (sockets,
# queries, tasks) stalls the event loop for most of a second, which every running timeout would feel.
RAMP = 0.001


def _ticker(progress: Callable[[], None] | None) -> Callable[[Awaitable[T]], Awaitable[T]]:
    async def ticking(step: Awaitable[T]) -> T:
        result = await step
        if progress is not None:
            progress()
        return result

    return ticking


async def _ask_non_resolver(control: Measured, non_resolver: str, net: Network) -> Measured:
    """Ask the non-resolver for a control's own (benign) name. An answer means every port-53 packet is
    intercepted (a transparent DNS proxy), so answers from it say nothing about a particular name. The records
    join the control's line, so the result file alone is enough to judge the run again."""
    obs = control.observations
    lookup = await net.dns_udp(
        non_resolver,
        53,
        control.target.host,
        "A",
        label=f"{non_resolver}:53",
        clock=relative_clock(),
        transaction_id=1 + max((q.transaction_id for q in obs.queries), default=0),
        tags=(Tag.PREFLIGHT.value, Tag.NON_RESOLVER.value),
    )
    packets = lookup.packets + (await net.packets([lookup.flow]))[0] if lookup.flow else lookup.packets
    update = {"queries": obs.queries + lookup.queries, "packets": obs.packets + packets}
    return control.model_copy(update={"observations": obs.model_copy(update=update)})


def _non_resolver(preflight: Sequence[Measured]) -> str | None:
    """An address known to run no DNS server: a control endpoint's that just accepted a connection (IPv4
    preferred: it is the family most vantage points have)."""
    candidates = [c.ip for m in preflight for c in m.observations.tcp_connect if c.status.success]
    candidates.sort(key=lambda ip: ipaddress.ip_address(ip).version)
    return candidates[0] if candidates else None


def annotate_asns(measured: Measured, asn_of: Callable[[str], int | None]) -> Measured:
    """Give every DNS answer address its AS number (df-002 `asn`), so the analysis can tell a rotation inside a
    service's own networks from a forged answer (the target list's `expected_asns`)."""
    obs = measured.observations

    def with_asn(answer: DNSAnswer) -> DNSAnswer:
        address = answer.ipv4 or answer.ipv6
        return answer if address is None else dataclasses.replace(answer, asn=asn_of(address))

    queries = tuple(
        q if not q.answers else dataclasses.replace(q, answers=tuple(with_asn(a) for a in q.answers))
        for q in obs.queries
    )
    return measured.model_copy(update={"observations": obs.model_copy(update={"queries": queries})})


def judge(
    measured: Sequence[Measured], vantage: VantageFacts
) -> tuple[tuple[EndpointVerdict, ...], tuple[ServiceVerdict, ...]]:
    verdicts = analysis.classify_all(measured, vantage)
    return verdicts, analysis.aggregate([m.target for m in measured], verdicts)


def write(
    config: RunConfig,
    started: datetime,
    measured: Sequence[Measured],
    verdicts: Sequence[EndpointVerdict],
    vantage: VantageFacts,
    signer: Signer | None,
    capture: str = "off",
    helper_url: str | None = None,
) -> tuple[Path, Path | None, bytes]:
    """Write the result file (and its signature first, so the file never appears without it)."""
    from probe.net.resolvers import doh_label

    start = started.strftime("%Y-%m-%d %H:%M:%S")
    run_info = report.RunInfo(
        report_id=report.new_report_id(start, config.probe_cc, config.probe_asn),
        test_start_time=start,
        probe_cc=config.probe_cc,
        probe_asn=config.probe_asn,
        options=config.options,
        test_helpers={
            "doh": [doh_label(url) for url in config.doh_urls],
            **({"helper": [helper_url]} if helper_url else {}),
        },
        analysis_version=analysis.ANALYSIS_VERSION,
        annotations=dict(config.annotations),
    )
    controls = {**vantage.as_dict(), "packet_capture": capture}
    pairs = list(zip(measured, verdicts, strict=True))

    def line(index: int) -> dict[str, Any]:
        m, v = pairs[index]
        made = report.measurement(m, v, run_info, controls)
        for query in made["test_keys"]["queries"]:  # a DoH resolver as --resolver's: no LAN address, no password
            if query["engine"] == "doh":
                query["resolver_address"] = doh_label(query["resolver_address"])
        return made

    # Line by line, under the collector's limits whatever the network sent (a flood of answers, huge chains):
    # probe.trim. Neither the run as JSON-ready dicts nor the file as measured is ever held whole.
    data = trim.encode(line, len(pairs))
    path = atomicfile.result_path(config.results_dir, start, run_info.report_id)
    files: list[tuple[Path, bytes]] = []
    signature_path = None
    if signer is not None:
        signature_path = wire.signature_path(path)
        files.append((signature_path, signer(data, path.name)))
    files.append((path, data))
    atomicfile.write_group_atomic(files)
    return path, signature_path, data


async def run_async(
    config: RunConfig, net: Network | None = None, signer: Signer | None = None, helper: HelperFetch | None = None
) -> RunOutcome:
    """Measure, judge, write. `net` defaults to the real network; `helper` to asking `config.helper_urls`."""
    started = datetime.now(UTC)
    asked: list[HelperAnswer] = []
    helper = _remembering(helper or helper_fetch(config), asked)
    capture_status = "off: not the system network"
    if net is None:
        from probe.net import SystemNetwork
        from probe.net.certs import TrustStore
        from probe.net.doh import DoHClient

        trust = TrustStore(config.ca_files, anchors=dict(config.anchors))
        capture, capture_status = _start_capture(config.capture)
        try:
            async with DoHClient(trust.ssl_context(), config.timeout) as doh:
                system = SystemNetwork(
                    timeout=config.timeout,
                    late_window=config.late_window,
                    trust=trust,
                    doh=doh,
                    capture=capture,
                    max_sockets=socket_budget(),
                )
                measured, vantage = await measure_all(config, system, helper)
        finally:
            if capture is not None:
                capture.stop()
    else:
        measured, vantage = await measure_all(config, net, helper)
    if config.asn_databases:
        from probe.local.geo import GeoError, asn_lookup

        # A database that cannot be used was reported by the location step already; answers then stay without ASNs.
        with contextlib.suppress(GeoError):
            asn_of = asn_lookup(config.asn_databases)
            measured = tuple(annotate_asns(m, asn_of) for m in measured)
    verdicts, services = judge(measured, vantage)
    helper_url = asked[0].url if asked else None
    outcome = (measured, verdicts, vantage, signer, capture_status, helper_url)
    try:
        path, signature, data = write(config, started, *outcome)
    except OSError:
        if config.fallback_dir is None:
            raise
        path, signature, data = write(dataclasses.replace(config, results_dir=config.fallback_dir), started, *outcome)
    return RunOutcome(measured, verdicts, services, vantage, path, signature, data, capture_status)


def helper_fetch(config: RunConfig) -> HelperFetch | None:
    """Asking the configured helpers over the real network (None when none is configured)."""
    if not config.helper_urls:
        return None

    async def ask() -> HelperAnswer:
        from probe import minisign
        from probe.net import helper
        from probe.net.certs import TrustStore

        keys = tuple(minisign.PublicKey.from_base64(k) for k in config.helper_keys)
        return await helper.fetch(
            config.helper_urls,
            keys,
            proxy=config.helper_proxy,
            verify=TrustStore(config.ca_files).ssl_context(),
            timeout=config.timeout,
            deadline=helper_deadline(config.timeout),
        )

    return ask


def helper_deadline(timeout: float) -> float:
    """How long a run waits for the helpers, all of them together: long enough for a Tor circuit, and hidden
    behind the preflight controls, which take a few timeouts themselves."""
    return max(10.0, 3 * timeout)


def _remembering(fetch: HelperFetch | None, answers: list[HelperAnswer]) -> HelperFetch | None:
    if fetch is None:
        return None

    async def remembered() -> HelperAnswer:
        answer = await fetch()
        answers.append(answer)
        return answer

    return remembered


def _start_capture(wanted: bool) -> tuple[Capture | None, str]:
    """Start packet capture when wanted and allowed; say why not otherwise. Never fails the run."""
    if not wanted:
        return None, "off: --no-capture"
    from probe.net.capture import Capture, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        return None, f"off: {reason}"
    capture = Capture()
    try:
        capture.start()
    except Exception as exc:  # the kernel or the capture process said no: measure without packets
        capture.stop()
        return None, f"off: could not start ({exc.__class__.__name__})"
    return capture, "on"


def run(config: RunConfig, net: Network | None = None, signer: Signer | None = None) -> RunOutcome:
    return asyncio.run(run_async(config, net, signer))
