"""Endpoints, step by step: DNS (the resolver under test, the DoH control, a non-resolver), then TCP and TLS to
every address worth trying, each with the controls its verdict will need. Observations only; no judgement.

The order at one address and port matters (../shared/docs/measurement.md): after a trigger a censor may block
the whole (client, server, port) for a while ("penalty box", residual blocking), and new connections to it are then
reset or dropped whatever they carry. So the work is ordered per address and port, across every endpoint of the
run that uses it (names on one CDN address share it): first each endpoint's control SNI; then every target try of
every endpoint there connects, and only once all are open do the ClientHellos go out, each on its own connection,
so each name meets the censor as itself and one name's trigger cannot spoil another's tries (issue 15); last, the
control SNI once more where a target failed, to show the box. That is why all DNS comes first: the addresses must be
known before any of them is tried.

Two steps go past the handshake (issue 16): a `first_message` endpoint's every try sends the protocol's first
message after the connect; a `transfer` endpoint, once its tries are done, fetches a capped amount at the first
address where a handshake completed, several times at once, each beside the same request over the control SNI
at that address, within the run's byte budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from probe.addresses import is_ip_address
from probe.model import (
    AppExchange,
    DNSQuery,
    Measured,
    NetworkEvent,
    Observations,
    PacketSummary,
    Tag,
    Target,
    TCPConnect,
    TLSHandshake,
    Transfer,
)
from probe.net import Network
from probe.net.clock import Clock, relative_clock
from probe.net.flow import Flow

CONTROL_SNI = "example.org"  # OONI's control SNI (ts-024): a benign name almost no censor filters
RUN_TRANSFER_BUDGET = 4 * 1024 * 1024  # bytes a whole run may read in transfers (issue 16: "say 4 MiB in all")


class ByteBudget:
    """The bytes a run may still spend on transfers. Each transfer reserves its cap before it starts, so the run
    never reads more than the budget, whatever the servers send. Shared by every endpoint of a run."""

    def __init__(self, total: int = RUN_TRANSFER_BUDGET) -> None:
        self.left = total

    def take(self, amount: int) -> bool:
        if amount > self.left:
            return False
        self.left -= amount
        return True


@dataclass(frozen=True)
class TransferPlan:
    """The capped stall/throttle transfers (issue 16). Three tries at once: "over several tries" for throttling,
    and a freeze that repeats in every one is no random stall. 64 KiB each: past the 16-20 KB where the 2025
    freezes struck, and long enough at 140 kbit/s (about 4 s) to show a throttle's rate."""

    budget: ByteBudget
    cap: int = 64 * 1024
    tries: int = 3
    stall_window: float = 5.0  # seconds without a byte that make a transfer stalled rather than slow


@dataclass(frozen=True)
class Plan:
    """How a run measures: the resolver under test, the controls, and how many tries a failure needs."""

    resolver: str  # address of the resolver under test
    resolver_port: int = 53
    resolver_label: str = "system"  # what result files say the resolver was
    doh_urls: tuple[str, ...] = ()
    non_resolver: str | None = None  # a host known to run no DNS server: any answer from it is forged
    control_sni: str = CONTROL_SNI
    # A failure must repeat before it counts as blocking (see analysis.facts.AddressFacts.blocked). Five tries,
    # twelve when they disagree: a censor that fires three times in four then passes all five only once in
    # 1,024 runs, and fails at least a third of twelve with probability 0.9996; loss almost never fails four.
    tries: int = 5
    extended_tries: int = 12
    addresses_per_source: int = 2  # per address family, from each source (resolver, late answers, DoH, list)
    # The controls' own tries failed too (a lossy path): then tries that all failed are extended as well, because
    # five failures in a row are no rarity at 30% loss each way, and twelve are (analysis.facts.LOSS_ALPHA).
    extend_when_all_fail: bool = False
    # The longest one phase of a round at one address waits for its slowest member (an operation's timeout): a
    # member still queued for a socket must not hold up the others for longer.
    round_wait: float = 10.0
    # host -> the addresses the control vantage's resolvers gave (`probe helper serve`): where DoH is blocked, the
    # only legitimate addresses the probe learns, so they are tried like the DoH control's.
    helper_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    transfer: TransferPlan | None = None  # None: no transfers (--no-transfer)


@dataclass
class _Recorder:
    """Collects one measurement's records, hands out transaction ids, and stamps the tags every record gets."""

    clock: Clock
    tags: tuple[str, ...] = ()
    next_id: int = 1
    queries: list[DNSQuery] = field(default_factory=list)
    tcp_connect: list[TCPConnect] = field(default_factory=list)
    tls_handshakes: list[TLSHandshake] = field(default_factory=list)
    network_events: list[NetworkEvent] = field(default_factory=list)
    packets: list[PacketSummary] = field(default_factory=list)
    app_exchanges: list[AppExchange] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)  # captured flows whose packets are read at the end

    def transaction(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def observations(self) -> Observations:
        return Observations(
            queries=tuple(sorted(self.queries, key=lambda q: (q.transaction_id, q.t))),
            tcp_connect=tuple(sorted(self.tcp_connect, key=lambda c: c.transaction_id)),
            tls_handshakes=tuple(sorted(self.tls_handshakes, key=lambda h: h.transaction_id)),
            network_events=tuple(sorted(self.network_events, key=lambda e: (e.transaction_id or 0, e.t0))),
            packets=tuple(sorted(self.packets, key=lambda p: (p.transaction_id or 0, p.t))),
            app_exchanges=tuple(sorted(self.app_exchanges, key=lambda a: a.transaction_id)),
            transfers=tuple(sorted(self.transfers, key=lambda x: x.transaction_id)),
        )


async def measure(target: Target, net: Network, plan: Plan, *, tags: tuple[str, ...] = ()) -> Measured:
    """Measure one endpoint completely. Never raises for network trouble: failures are in the observations."""
    return (await measure_many((target,), net, plan, tags=tags))[0]


async def measure_many(
    targets: Sequence[Target],
    net: Network,
    plan: Plan,
    *,
    tags: tuple[str, ...] = (),
    ramp: float = 0.0,
    done: Callable[[], None] | None = None,
) -> tuple[Measured, ...]:
    """Measure endpoints together, in the order of `targets`: the DNS of all of them, then every address, in one
    round per address and port (see the module's docstring). `ramp` spaces the endpoints' starts (seconds each);
    `done` is called as each endpoint finishes."""
    started = datetime.now(UTC)
    zero = time.monotonic()
    recorders = [_Recorder(relative_clock(zero), tags) for _ in targets]

    async def resolve(i: int, target: Target) -> list[tuple[str, tuple[str, ...]]]:
        await asyncio.sleep(i * ramp)
        if is_ip_address(target.host):
            return [(target.host, ())]
        await _resolve(target.host, net, plan, recorders[i])
        helper = plan.helper_addresses.get(target.host, ())
        return _addresses(recorders[i].queries, target.fallback_addresses, plan.addresses_per_source, helper)

    addresses = await asyncio.gather(*(resolve(i, t) for i, t in enumerate(targets)))
    rounds = _rounds(targets, addresses, plan)

    async def probe(i: int, target: Target) -> float:
        await asyncio.sleep(i * ramp)
        await asyncio.gather(
            *(
                _probe_address(target, ip, extra, net, plan, recorders[i], rounds[(ip, target.port)])
                for ip, extra in addresses[i]
            )
        )
        if plan.transfer is not None and target.transfer is not None and not target.is_control:
            ip = _handshaken(recorders[i], [ip for ip, _ in addresses[i]])
            if ip is not None:
                await _transfers(target, ip, net, plan, plan.transfer, recorders[i])
        if done is not None:
            done()
        return round(time.monotonic() - zero, 6)

    runtimes = await asyncio.gather(*(probe(i, t) for i, t in enumerate(targets)))
    await _read_packets(net, recorders)
    return tuple(
        Measured(
            target=target,
            start_time=started.strftime("%Y-%m-%d %H:%M:%S"),
            runtime=runtime,
            observations=rec.observations(),
        )
        for target, runtime, rec in zip(targets, runtimes, recorders, strict=True)
    )


async def _read_packets(net: Network, recorders: Sequence[_Recorder]) -> None:
    """The captured packets of every flow of the measurements, read at once when they are all done: no
    measurement waits on the capture, and the event loop does no per-packet work while timing matters."""
    flows = [(rec, f) for rec in recorders for f in rec.flows]
    if not flows:
        return
    found = await net.packets([f for _, f in flows])
    for (rec, _), packets in zip(flows, found, strict=True):
        rec.packets.extend(packets)
    for rec in recorders:
        rec.flows.clear()


class _Round:
    """One address and port of the run, and the endpoints that try it: waits for all of them between phases."""

    def __init__(self, members: int, connections: int, wait: float) -> None:
        self.shared = members > 1
        self._wait = wait
        self._phases = {"controls": _Count(members), "connected": _Count(connections)}

    async def controls_done(self) -> None:
        """Each endpoint's control SNI has completed (or failed): no target ClientHello went out before it."""
        await self._arrive("controls", 2 * self._wait)

    async def connected(self) -> None:
        """This try's connection is open (or failed); wait until every try of the round is, so that no
        ClientHello goes out while another try of the round still has to connect."""
        await self._arrive("connected", self._wait)

    async def _arrive(self, phase: str, wait: float) -> None:
        count = self._phases[phase]
        count.arrived += 1
        if count.arrived >= count.expected:
            count.all.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await count.all.wait()


@dataclass
class _Count:
    expected: int
    arrived: int = 0
    all: asyncio.Event = field(default_factory=asyncio.Event)


def _rounds(
    targets: Sequence[Target], addresses: Sequence[list[tuple[str, tuple[str, ...]]]], plan: Plan
) -> dict[tuple[str, int], _Round]:
    members = Counter((ip, t.port) for t, found in zip(targets, addresses, strict=True) for ip, _ in found)
    return {key: _Round(n, n * plan.tries, plan.round_wait) for key, n in members.items()}


async def recheck(measured: Measured, net: Network, *, tags: tuple[str, ...]) -> Measured:
    """Connect again, once, to the first address that worked before (the after-flight canary of a control).

    The new records join the old measurement, on its clock, so one result line tells the whole story.
    """
    obs = measured.observations
    worked = [c.ip for c in obs.tcp_connect if c.status.success]
    if not worked:
        return measured
    target = measured.target
    start = datetime.strptime(measured.start_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    offset = (datetime.now(UTC) - start).total_seconds()
    clock = relative_clock(time.monotonic() - offset)
    rec = _Recorder(clock, tags, next_id=1 + max((c.transaction_id for c in obs.tcp_connect), default=0))
    await _try(target, worked[0], target.server_name, (Tag.TARGET.value,), net, rec)
    await _read_packets(net, [rec])
    new = rec.observations()
    return measured.model_copy(
        update={
            "observations": Observations(
                queries=obs.queries,
                tcp_connect=obs.tcp_connect + new.tcp_connect,
                tls_handshakes=obs.tls_handshakes + new.tls_handshakes,
                network_events=obs.network_events + new.network_events,
                packets=obs.packets + new.packets,
                app_exchanges=obs.app_exchanges + new.app_exchanges,
                transfers=obs.transfers,
            )
        }
    )


async def _resolve(host: str, net: Network, plan: Plan, rec: _Recorder) -> None:
    jobs: list[Awaitable[None]] = []
    for query_type in ("A", "AAAA"):
        jobs.append(
            _udp(
                plan.resolver, plan.resolver_port, host, query_type, plan.resolver_label, Tag.SYSTEM_RESOLVER, net, rec
            )
        )
        for url in plan.doh_urls:
            jobs.append(_doh(url, host, query_type, net, rec))
    if plan.non_resolver is not None:
        jobs.append(_udp(plan.non_resolver, 53, host, "A", None, Tag.NON_RESOLVER, net, rec))
    await asyncio.gather(*jobs)


async def _udp(
    server: str, port: int, host: str, query_type: str, label: str | None, tag: Tag, net: Network, rec: _Recorder
) -> None:
    label = label or (f"[{server}]:{port}" if ":" in server else f"{server}:{port}")
    lookup = await net.dns_udp(
        server,
        port,
        host,
        query_type,
        label=label,
        clock=rec.clock,
        transaction_id=rec.transaction(),
        tags=rec.tags + (tag.value,),
    )
    rec.queries.extend(lookup.queries)
    rec.packets.extend(lookup.packets)
    if lookup.flow is not None:
        rec.flows.append(lookup.flow)


async def _doh(url: str, host: str, query_type: str, net: Network, rec: _Recorder) -> None:
    record = await net.dns_doh(
        url,
        host,
        query_type,
        clock=rec.clock,
        transaction_id=rec.transaction(),
        tags=rec.tags + (Tag.CONTROL_DOH.value,),
    )
    rec.queries.append(record)


def _addresses(
    queries: Iterable[DNSQuery], fallbacks: Iterable[str], per_source: int, helper: Iterable[str] = ()
) -> list[tuple[str, tuple[str, ...]]]:
    """The addresses worth connecting to, in order: the resolver's first answer (what the app would use), its
    late answers (the genuine one, when the first was forged), the DoH control's, the control vantage's, then the
    list's own."""
    queries = list(queries)

    def answered(tag: Tag, late: bool) -> list[str]:
        return [
            ip
            for q in queries
            if tag.value in q.tags and (Tag.LATE_RESPONSE.value in q.tags) == late
            for ip in q.addresses()
        ]

    sources: list[tuple[list[str], tuple[str, ...]]] = [
        (answered(Tag.SYSTEM_RESOLVER, False), ()),
        (answered(Tag.SYSTEM_RESOLVER, True), ()),
        (answered(Tag.CONTROL_DOH, False), ()),
        (list(helper), (Tag.CONTROL_HELPER.value,)),
        (list(fallbacks), (Tag.FALLBACK_ADDRESS.value,)),
    ]
    chosen: dict[str, tuple[str, ...]] = {}
    for ips, extra in sources:
        taken = {4: 0, 6: 0}
        for ip in ips:
            try:
                family = ipaddress.ip_address(ip).version
            except ValueError:
                continue
            if ip in chosen or taken[family] >= per_source:
                continue
            chosen[ip] = extra
            taken[family] += 1
    return list(chosen.items())


async def _probe_address(
    target: Target, ip: str, extra: tuple[str, ...], net: Network, plan: Plan, rec: _Recorder, rounds: _Round
) -> None:
    sni_control = target.protocol == "tls" and not target.is_control and target.server_name != plan.control_sni
    if sni_control:
        await _try(target, ip, plan.control_sni, extra + (Tag.CONTROL_SNI.value,), net, rec)
    await rounds.controls_done()
    tags = extra + (Tag.TARGET.value,) + ((Tag.SHARED_ADDRESS.value,) if rounds.shared else ())
    outcomes = await _tries(
        plan.tries, lambda: _try(target, ip, target.server_name, tags, net, rec, rounds.connected, target.ca)
    )
    if (any(outcomes) and not all(outcomes)) or (plan.extend_when_all_fail and not any(outcomes)):
        # New connections, after the round's ClientHellos: a penalty box may refuse them (the analysis knows).
        outcomes += await _tries(
            plan.extended_tries - plan.tries,
            lambda: _try(target, ip, target.server_name, tags, net, rec, ca=target.ca),
        )
    if sni_control and not all(outcomes):
        await _try(target, ip, plan.control_sni, extra + (Tag.CONTROL_SNI_AFTER.value,), net, rec)


async def _tries(count: int, attempt: Callable[[], Awaitable[bool]]) -> list[bool]:
    # Concurrent, so that a blackhole costs one timeout rather than `count` of them.
    return list(await asyncio.gather(*(attempt() for _ in itertools.repeat(None, count))))


async def _try(
    target: Target,
    ip: str,
    server_name: str,
    tags: tuple[str, ...],
    net: Network,
    rec: _Recorder,
    connected: Callable[[], Awaitable[None]] | None = None,
    ca: str | None = None,
) -> bool:
    """One connection (and handshake for tls, validated against anchor `ca` alone when given; and the protocol's
    first exchange, for a `first_message` endpoint); True when it fully worked. `connected` is awaited once the
    connect is done, before anything is sent."""
    tags = rec.tags + tags
    transaction = rec.transaction()
    if target.protocol == "tcp":
        exchange = await net.tcp(
            ip,
            target.port,
            clock=rec.clock,
            transaction_id=transaction,
            tags=tags,
            connected=connected,
            first_message=target.first_message,
        )
    else:
        exchange = await net.tls(
            ip,
            target.port,
            server_name,
            clock=rec.clock,
            transaction_id=transaction,
            tags=tags,
            connected=connected,
            ca=ca,
        )
    rec.tcp_connect.append(exchange.connect)
    rec.network_events.extend(exchange.events)
    rec.packets.extend(exchange.packets)
    if exchange.flow is not None:
        rec.flows.append(exchange.flow)
    if exchange.handshake is not None:
        rec.tls_handshakes.append(exchange.handshake)
    if exchange.app is not None:
        rec.app_exchanges.append(exchange.app)
    if target.protocol == "tcp":
        return exchange.connect.status.success and (exchange.app is None or exchange.app.failure is None)
    return exchange.handshake is not None and exchange.handshake.failure is None


def _handshaken(rec: _Recorder, addresses: list[str]) -> str | None:
    """The first of `addresses` where a try with the target's name completed a valid handshake: where the app
    would fetch from (a forged answer or a blocked address would measure nothing)."""
    done = {h.transaction_id for h in rec.tls_handshakes if h.failure is None and Tag.TARGET.value in h.tags}
    worked = {c.ip for c in rec.tcp_connect if c.transaction_id in done}
    return next((ip for ip in addresses if ip in worked), None)


async def _transfers(target: Target, ip: str, net: Network, plan: Plan, transfer: TransferPlan, rec: _Recorder) -> None:
    """`transfer.tries` pairs at once, each a target transfer and, with the next transaction id, the same request
    over the control SNI at the same address (the analysis pairs them so). A pair starts only if the run's budget
    still holds both caps."""
    assert target.transfer is not None
    jobs = []
    for _ in range(transfer.tries):
        if not transfer.budget.take(2 * transfer.cap):
            break
        for sni, verify, tag in ((target.server_name, True, Tag.TARGET), (plan.control_sni, False, Tag.CONTROL_SNI)):
            jobs.append(
                net.transfer(
                    ip,
                    target.port,
                    sni,
                    target.transfer,
                    ca=target.ca if verify else None,
                    verify=verify,
                    cap=transfer.cap,
                    stall_window=transfer.stall_window,
                    clock=rec.clock,
                    transaction_id=rec.transaction(),
                    tags=rec.tags + (tag.value,),
                    host=target.server_name,  # the control SNI asks for the same page
                )
            )
    rec.transfers.extend(await asyncio.gather(*jobs))
