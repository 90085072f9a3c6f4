"""What the control endpoints say about the vantage point itself, before any target is judged.

A failure means something only against controls that work: an offline host, a broken resolver or a network
without IPv6 must come out `inconclusive`, never `blocked`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from probe.analysis.bogons import is_bogon
from probe.failures import Failure
from probe.model import Measured, Tag, TLSHandshake, VantageStatus


@dataclass(frozen=True)
class VantageFacts:
    """Facts about the vantage point, from the controls measured before (and again after) the targets."""

    controls: int  # how many control endpoints the list had
    status: VantageStatus
    reachable_controls: int  # controls that completed a TCP connection before the targets
    ipv4: bool  # some control connected over IPv4
    ipv6: bool  # some control connected over IPv6
    tls: bool  # some control completed a handshake with a valid certificate
    resolver: bool  # the resolver under test answered some control name
    doh: bool  # the DoH control answered some control name
    afterflight: bool | None  # the controls still connected after the targets (None: not checked)
    dns_proxy: bool  # a non-resolver answered a benign name: port 53 is intercepted, not name-triggered
    ports: tuple[int, ...] = ()  # ports on which some control connected: a failure elsewhere may be a firewall's
    ports4: tuple[int, ...] = ()  # the same, over IPv4 only
    ports6: tuple[int, ...] = ()  # ... over IPv6 only: the contrast when one family is judged alone
    resolver_rewrites: bool = False  # the resolver's answers for the control names are not the DoH control's
    captive_portal: bool = False  # every control name resolves to one address, and no control TLS validates
    loop_lag: float = 0.0  # the worst delay, in seconds, of the probe's own event loop during the run
    overloaded: bool = False  # the probe was too busy to keep time: its own timeouts are no evidence
    # How often the path failed the controls themselves (issue 15): tries (connect, and handshake for tls) to
    # controls that worked at least once, and the resolver's answers to the control names.
    control_tries: int = 0
    control_try_failures: int = 0
    control_queries: int = 0
    control_query_failures: int = 0
    # every address the resolver gave for the control names is a bogon (a lab, a split-horizon network): then a
    # bogon answer for a target is no sign of a lie without a DoH answer to compare (issue 15)
    resolver_bogons: bool = False
    international: int = 0  # international controls (role vantage_online) that connected
    domestic: int = 0  # the other controls (same_region, same_operator: domestic somewhere) that connected
    # The control vantage (`probe helper serve`): ok, unreachable, refused (its answer was not a view signed by a
    # configured key) or off; and why each helper that did not serve did not. A fact about this vantage point:
    # no rule reads it against a target.
    helper: str = "off"
    helper_reasons: tuple[str, ...] = ()

    @property
    def has_controls(self) -> bool:
        return self.controls > 0

    @property
    def loss(self) -> float | None:
        """The share of the controls' tries that failed (with half a failure added, so that one unlucky run of
        controls does not make loss look impossible), or None when none failed: then the fixed thresholds
        alone judge (analysis.facts.AddressFacts.blocked)."""
        if not self.control_try_failures:
            return None
        return (self.control_try_failures + 0.5) / (self.control_tries + 1)

    def for_family(self, family: int) -> VantageFacts:
        """The facts as judging one address family alone needs them: a control contrasts a failure only when it
        connected over the same family."""
        return dataclasses.replace(self, ports=self.ports6 if family == 6 else self.ports4)

    def as_dict(self) -> dict[str, object]:
        """The facts as they go into a result file's `controls`."""
        return {
            "vantage": self.status.value,
            "controls": self.controls,
            "reachable_controls": self.reachable_controls,
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
            "tls": self.tls,
            "resolver": self.resolver,
            "doh": self.doh,
            "afterflight": self.afterflight,
            "transparent_dns_proxy": self.dns_proxy,
            "ports": list(self.ports),
            "resolver_rewrites": self.resolver_rewrites,
            "captive_portal": self.captive_portal,
            "loop_lag": round(self.loop_lag, 3),
            "overloaded": self.overloaded,
            "control_tries": self.control_tries,
            "control_try_failures": self.control_try_failures,
            "control_queries": self.control_queries,
            "control_query_failures": self.control_query_failures,
            "resolver_bogons": self.resolver_bogons,
            "international_controls": self.international,
            "domestic_controls": self.domestic,
            "helper": self.helper,
            "helper_reasons": list(self.helper_reasons),
        }


INTERNATIONAL = "vantage_online"  # the role of the controls that are reachable from everywhere (targets/README.md)


def assess(controls: Iterable[Measured], others: Iterable[Measured] = ()) -> VantageFacts:
    """Judge the vantage point from the control measurements: their own records, their after-flight records, and
    the non-resolver query for a control's (benign) name.

    Without controls, `others` (the targets) must show some connectivity (a connection that succeeded) for the
    vantage point to count as online: a list without controls on a dead network is offline, not online.
    """
    controls = tuple(controls)
    before = [c for m in controls for c in m.observations.tcp_connect if Tag.AFTERFLIGHT.value not in c.tags]
    after = [c for m in controls for c in m.observations.tcp_connect if Tag.AFTERFLIGHT.value in c.tags]
    connected = [c for c in before if c.status.success]
    reachable = [
        m
        for m in controls
        if any(c.status.success and Tag.AFTERFLIGHT.value not in c.tags for c in m.observations.tcp_connect)
    ]
    international = sum(1 for m in reachable if m.target.role == INTERNATIONAL)
    domestic = len(reachable) - international
    queries = [q for m in controls for q in m.observations.queries]
    handshakes = [h for m in controls for h in m.observations.tls_handshakes]
    if controls:
        has_international = any(m.target.role == INTERNATIONAL for m in controls)
        if not reachable:
            status = VantageStatus.OFFLINE
        elif has_international and not international:
            status = VantageStatus.RESTRICTED
        else:
            status = VantageStatus.ONLINE
    else:
        alive = any(c.status.success for m in others for c in m.observations.tcp_connect)
        status = VantageStatus.ONLINE if alive else VantageStatus.OFFLINE
    tries, try_failures = _try_counts(reachable)
    resolved, unanswered = _query_counts(controls)
    return VantageFacts(
        controls=len(controls),
        status=status,
        reachable_controls=len(reachable),
        ipv4=any(ipaddress.ip_address(c.ip).version == 4 for c in connected),
        ipv6=any(ipaddress.ip_address(c.ip).version == 6 for c in connected),
        tls=any(h.failure is None for h in handshakes),
        resolver=any(Tag.SYSTEM_RESOLVER.value in q.tags and q.addresses() for q in queries),
        doh=any(Tag.CONTROL_DOH.value in q.tags and q.addresses() for q in queries),
        afterflight=any(c.status.success for c in after) if after else None,
        dns_proxy=any(Tag.NON_RESOLVER.value in q.tags and q.rcode is not None for q in queries),
        ports=tuple(sorted({c.port for c in connected})),
        ports4=tuple(sorted({c.port for c in connected if ipaddress.ip_address(c.ip).version == 4})),
        ports6=tuple(sorted({c.port for c in connected if ipaddress.ip_address(c.ip).version == 6})),
        resolver_rewrites=_resolver_rewrites(controls),
        captive_portal=_captive_portal(controls, handshakes),
        control_tries=tries,
        control_try_failures=try_failures,
        control_queries=resolved,
        control_query_failures=unanswered,
        resolver_bogons=_resolver_bogons(controls),
        international=international,
        domestic=domestic,
    )


def _try_counts(controls: Sequence[Measured]) -> tuple[int, int]:
    """(tries, failed tries) of the controls' own target tries before the targets: a connect, and for tls a
    handshake with a valid certificate. Only controls that worked at least once over an address family count, and
    only over that family: a control blocked or down at this vantage point says nothing about loss, and neither
    does IPv6 that is broken on the volunteer's side (issue 15)."""
    tries = failures = 0
    for m in controls:
        handshakes = {h.transaction_id: h for h in m.observations.tls_handshakes}
        outcomes: dict[int, list[bool]] = {}
        for c in m.observations.tcp_connect:
            if Tag.AFTERFLIGHT.value in c.tags or Tag.TARGET.value not in c.tags:
                continue
            h = handshakes.get(c.transaction_id)
            ok = c.status.success and (m.target.protocol != "tls" or (h is not None and h.failure is None))
            outcomes.setdefault(ipaddress.ip_address(c.ip).version, []).append(ok)
        for family in outcomes.values():
            if any(family):
                tries += len(family)
                failures += family.count(False)
    return tries, failures


def _query_counts(controls: Sequence[Measured]) -> tuple[int, int]:
    """(queries, unanswered queries) of the resolver under test for the control names (first answers only), over
    the names it answered at least once: a control name dropped every time is blocked, not lost."""
    timeouts = {Failure.GENERIC_TIMEOUT_ERROR.value, Failure.TIMED_OUT.value}
    queries = unanswered = 0
    for m in controls:
        first = [
            q
            for q in m.observations.queries
            if Tag.SYSTEM_RESOLVER.value in q.tags
            and Tag.LATE_RESPONSE.value not in q.tags
            and Tag.TCP_FALLBACK.value not in q.tags
            and Tag.AFTERFLIGHT.value not in q.tags
        ]
        lost = sum(1 for q in first if q.failure in timeouts)
        if lost < len(first):
            queries += len(first)
            unanswered += lost
    return queries, unanswered


def _resolver_bogons(controls: Sequence[Measured]) -> bool:
    """The resolver's answers for the control names are all non-routable (and there are some)."""
    answers = {ip for m in controls for ip in _answers(m, Tag.SYSTEM_RESOLVER)}
    return bool(answers) and all(is_bogon(ip) for ip in answers)


def _answers(m: Measured, tag: Tag) -> set[str]:
    return {
        ip
        for q in m.observations.queries
        if tag.value in q.tags and Tag.LATE_RESPONSE.value not in q.tags
        for ip in q.addresses()
    }


def _resolver_rewrites(controls: Sequence[Measured]) -> bool:
    """The resolver lies about every name, benign ones included (ad-injecting or hijacking resolvers, Weaver et
    al., FOCI 2011): its answers for the controls never meet the DoH control's. Judged only where DoH answered."""
    compared = [
        (r, d) for m in controls if (r := _answers(m, Tag.SYSTEM_RESOLVER)) and (d := _answers(m, Tag.CONTROL_DOH))
    ]
    return bool(compared) and all(not (r & d) for r, d in compared)


def _captive_portal(controls: Sequence[Measured], handshakes: Sequence[TLSHandshake]) -> bool:
    """A captive portal answers every name with its own address and cannot present valid certificates."""
    answers = [_answers(m, Tag.SYSTEM_RESOLVER) for m in controls]
    single = {ip for a in answers for ip in a}
    return len(controls) > 1 and all(answers) and len(single) == 1 and not any(h.failure is None for h in handshakes)
