"""The verdict rules, as data: an ordered table of (id, verdict, confidence, condition, comment).

The first rule whose condition holds decides the endpoint's verdict; its condition returns the evidence. Rule ids
are stable API (the dataset records them): add rules, never rename one. Order matters and is part of the design:
positive artefacts (an injected answer) come before failures that need contrast, vantage problems come before
anything that could call a broken vantage point "blocked", and `ok` is last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from probe.analysis.bogons import is_bogon, is_fake_ip, is_impossible
from probe.analysis.facts import AddressFacts, EndpointFacts, TransferPair, leaf_certificate, leaf_summary, rate
from probe.analysis.fingerprints import forged_answer
from probe.failures import Failure
from probe.model import Confidence, VantageStatus, Verdict

Evidence = tuple[str, ...]
Condition = Callable[[EndpointFacts], Evidence | None]


@dataclass(frozen=True)
class Rule:
    id: str
    verdict: Verdict
    confidence: Confidence
    condition: Condition
    comment: str


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)} ms"


def _answer_text(addresses: tuple[str, ...], failure: str | None) -> str:
    return ", ".join(addresses) if addresses else (failure or "an empty answer")


# --- vantage ----------------------------------------------------------------------------------------------------


def vantage_offline(f: EndpointFacts) -> Evidence | None:
    if f.vantage.status is VantageStatus.OFFLINE:
        return (f"vantage point offline: none of the {f.vantage.controls} control endpoints could be reached",)
    return None


def vantage_captive_portal(f: EndpointFacts) -> Evidence | None:
    if f.vantage.captive_portal:
        return (
            "every control name resolves to one address and no control presents a valid certificate: "
            "a captive portal stands between this vantage point and the Internet",
        )
    return None


def vantage_resolver_rewrites(f: EndpointFacts) -> Evidence | None:
    """Only DNS verdicts are masked: a lying resolver says nothing about the path to the genuine address."""
    if f.vantage.resolver_rewrites and (_resolver_nxdomain(f) or _suspect(f, True) or _suspect(f, False)):
        return ("the resolver under test rewrites the control names too: its answers are not name-specific censorship",)
    return None


# --- DNS --------------------------------------------------------------------------------------------------------


def dns_non_resolver_answered(f: EndpointFacts) -> Evidence | None:
    if not f.non_resolver_responses or f.vantage.dns_proxy:
        return None
    q = f.non_resolver_responses[0]
    return (
        f"answer {_answer_text(q.addresses(), q.failure)} for {q.hostname} came from {q.resolver_address}, "
        f"a host that runs no DNS server",
    )


def dns_two_answers(f: EndpointFacts) -> Evidence | None:
    if not f.late_answers:
        return None
    out = []
    for first, late in f.late_answers[:2]:
        genuine = [ip for ip in late.addresses() if ip in f.doh_addresses]
        out.append(
            f"two answers to one {first.query_type} query for {first.hostname}: "
            f"{_answer_text(first.addresses(), first.failure)} after {_ms(first.t - first.t0)}, then "
            f"{_answer_text(late.addresses(), late.failure)} after {_ms(late.t - late.t0)}"
            + (" (the one the DoH control gives)" if genuine else "")
        )
        senders = f.dns_senders(first, late)
        if senders:
            out.append(senders)
    return tuple(out)


def _resolver_nxdomain(f: EndpointFacts) -> bool:
    return f.resolver_failures.get(f.address_type) == Failure.DNS_NXDOMAIN_ERROR.value and not f.resolver_addresses


def dns_nxdomain_everywhere(f: EndpointFacts) -> Evidence | None:
    if _resolver_nxdomain(f) and f.doh_nxdomain:
        return ("the name does not exist for the DoH control either: gone or mistyped, not censored",)
    return None


def dns_nxdomain_control_resolves(f: EndpointFacts) -> Evidence | None:
    if _resolver_nxdomain(f) and f.doh_addresses:
        return (f"resolver says NXDOMAIN; the DoH control resolves it to {', '.join(f.doh_addresses[:3])}",)
    return None


def dns_nxdomain_no_control(f: EndpointFacts) -> Evidence | None:
    if _resolver_nxdomain(f) and f.vantage.resolver:
        return (f"resolver says NXDOMAIN while it resolves the control names; {f.doh_unanswered}",)
    return None


def dns_nodata_everywhere(f: EndpointFacts) -> Evidence | None:
    if f.resolver_nodata and f.doh_nodata:
        return (
            f"the resolver gives no address for the name ({f.resolver_nodata}), and neither does the DoH control: "
            "the name has none, not a censored one",
        )
    return None


def dns_nodata_control_resolves(f: EndpointFacts) -> Evidence | None:
    if f.resolver_nodata and f.doh_addresses:
        return (
            f"resolver gives no address for the name ({f.resolver_nodata}); the DoH control resolves it to "
            f"{', '.join(f.doh_addresses[:3])}",
        )
    return None


def dns_nodata_no_control(f: EndpointFacts) -> Evidence | None:
    """Only the empty NOERROR answer, a statement that the name has no address: a SERVFAIL without a control is
    as likely the name's own servers failing (dns.other_failure)."""
    if f.resolver_nodata == Failure.DNS_NO_ANSWER.value and not f.doh_addresses and f.vantage.resolver:
        return (
            f"resolver answers the name with no address (NOERROR, empty) while it resolves the control names; "
            f"{f.doh_unanswered}",
        )
    return None


def _suspect(f: EndpointFacts, bogon: bool) -> tuple[str, ...]:
    """Resolver answers no control gives (the DoH control, the control vantage), bogon or routable, that never
    proved themselves with a valid certificate for the name, or with the certificate the control vantage saw (a
    CDN's other address passes that test, and then it is no evidence at all).

    Without a control's answer (DoH is often blocked where it matters, and no control vantage answered), the
    control names asked of the same resolver are the contrast: where they resolve to routable addresses, a bogon
    that never accepts a connection is a lie; where they are bogons too (a lab, a split-horizon network) it proves
    nothing. An address no server can have at all
    (127.0.0.1, 0.0.0.0) is a lie whatever the contrast and whatever connects there (issue 15)."""
    return tuple(
        ip
        for ip in f.resolver_addresses
        if is_bogon(ip) == bogon
        and ip not in f.control_addresses
        and not f.valid_tls_at([ip])
        and not f.helper_certificate_at([ip])
        and not (bogon and is_fake_ip(ip) and f.connects_at([ip]))
        and (
            not bogon
            or bool(f.control_addresses)
            or is_impossible(ip)
            or (f.vantage.resolver and not f.vantage.resolver_bogons and not f.connects_at([ip]))
        )
    )


def _all_suspect(f: EndpointFacts, bogon: bool) -> tuple[str, ...]:
    """The suspect answers, when they are all the resolver gave (a mixed answer still lets the app through)."""
    suspect = _suspect(f, bogon)
    return suspect if suspect and len(suspect) == len(f.resolver_addresses) else ()


def _fingerprint_text(ips: tuple[str, ...]) -> str | None:
    for ip in ips:
        fp = forged_answer(ip)
        if fp is not None:
            return f"{ip} is a known forged answer ({fp.name}; {fp.source}, seen {fp.seen})"
    return None


def dns_bogon_known(f: EndpointFacts) -> Evidence | None:
    ips = _all_suspect(f, bogon=True)
    text = _fingerprint_text(ips)
    return (f"resolver answers {', '.join(ips)} (non-routable)", text) if text else None


def dns_bogon_control_differs(f: EndpointFacts) -> Evidence | None:
    ips = _all_suspect(f, bogon=True)
    if ips and f.doh_addresses:
        return (
            f"resolver answers {', '.join(ips)} (non-routable); the DoH control gives {', '.join(f.doh_addresses[:3])}",
        )
    return None


def dns_bogon_no_control(f: EndpointFacts) -> Evidence | None:
    ips = _all_suspect(f, bogon=True)
    if ips and not f.doh_addresses and f.vantage.resolver:
        return (
            f"resolver answers {', '.join(ips)} (non-routable) while it resolves the control names; {f.doh_unanswered}",
        )
    return None


def dns_bogon_unjudged(f: EndpointFacts) -> Evidence | None:
    """A non-routable answer with nothing to hold it against: never a verdict about the path to an address the
    resolver made up (a `tcp.reset` at 127.0.0.1 would blame the volunteer's own host)."""
    ips = _all_suspect(f, bogon=True)
    if ips and not f.doh_addresses:
        return (
            f"resolver answers {', '.join(ips)} (non-routable); {f.doh_unanswered}, and the resolver gave no "
            "control name an address to compare with",
        )
    return None


def dns_mismatch_known(f: EndpointFacts) -> Evidence | None:
    ips = _all_suspect(f, bogon=False)
    text = _fingerprint_text(ips)
    control = "which the DoH control does not give" if f.doh_addresses else f"and {f.doh_unanswered}"
    return (f"resolver answers {', '.join(ips)}, {control}", text) if text else None


def _outside_expected_asns(f: EndpointFacts, ips: tuple[str, ...]) -> bool:
    """True unless an answer's recorded ASN is one the list expects (unknown ASNs do not clear an answer)."""
    expected = set(f.target.expected_asns)
    asns = {a.asn for q in f.resolver_answers for a in q.answers or () if (a.ipv4 or a.ipv6) in ips and a.asn}
    return not (expected and asns and asns <= expected)


def _vouched(f: EndpointFacts, test: Callable[[tuple[str, ...]], bool]) -> str | None:
    """'the DoH control's ADDRESSES' (or the control vantage's, where DoH gave none that pass) when `test` holds
    for the addresses a control gives; None when it holds for none."""
    for name, ips in (("DoH control", f.doh_addresses), ("control vantage", f.helper_addresses)):
        if ips and test(ips):
            return f"the {name}'s {', '.join(ips[:3])}"
    return None


def dns_mismatch_tls_invalid(f: EndpointFacts) -> Evidence | None:
    """Needs the DoH control's address to validate. Without a DoH answer a routable answer cannot be told from a
    CDN's other address: it is judged by what happens at it (tls.mitm, tcp.*, tls.*), as the app would meet it."""
    ips = _all_suspect(f, bogon=False)
    if not ips or f.target.protocol != "tls":
        return None
    control = _vouched(f, f.valid_tls_at)
    if control is None or not _outside_expected_asns(f, ips):
        return None
    return (
        f"resolver answers {', '.join(ips)}: no valid certificate for {f.target.server_name} there, while "
        f"{control} presents one",
    )


def dns_mismatch_unreachable(f: EndpointFacts) -> Evidence | None:
    """Needs the DoH control's address to connect; without a DoH answer the failure at the resolver's address is
    judged as such (tcp.timeout, tcp.reset)."""
    ips = _all_suspect(f, bogon=False)
    if not ips or f.connects_at(ips):
        return None
    control = _vouched(f, f.connects_at)
    if control is None or not _outside_expected_asns(f, ips):
        return None
    return (f"resolver answers {', '.join(ips)}, which never connect; {control} connects",)


def vantage_overloaded(f: EndpointFacts) -> Evidence | None:
    """Timeouts measured by a probe whose own event loop fell behind are the probe's, not the path's."""
    if not f.vantage.overloaded:
        return None
    timed = ("tcp.timeout", "tls.timeout", "app.timeout")
    if dns_timeout(f) is not None or _kind(f) in timed or tls_stall(f) is not None or tls_throttled(f) is not None:
        return (
            f"the probe itself fell {f.vantage.loop_lag:.1f} s behind during the run: its timeouts are no evidence",
        )
    return None


def _name_unanswered(f: EndpointFacts) -> bool:
    timeouts = (Failure.GENERIC_TIMEOUT_ERROR.value, Failure.TIMED_OUT.value)
    failures = f.resolver_failures
    return not f.resolver_addresses and bool(failures) and all(v in timeouts for v in failures.values())


def vantage_lossy_dns(f: EndpointFacts) -> Evidence | None:
    """Unanswered queries for a name mean a drop only where the resolver answered every control query: on a path
    that loses queries for the control names too, two unanswered queries are loss as often as not."""
    v = f.vantage
    if _name_unanswered(f) and v.resolver and v.control_query_failures:
        return (
            f"{' and '.join(sorted(f.resolver_failures))} queries for this name went unanswered, but so did "
            f"{v.control_query_failures} of {v.control_queries} queries for the control names: a lossy path",
        )
    return None


def dns_timeout(f: EndpointFacts) -> Evidence | None:
    """Every query for the name (A and AAAA: the repeat that tells a drop from loss) went unanswered, each after
    being sent again several times, while every control query was answered."""
    if not _name_unanswered(f) or not f.vantage.resolver:
        return None
    kinds = " and ".join(sorted(f.resolver_failures))
    return (f"{kinds} queries for this name went unanswered while the same resolver answers the control names",)


def dns_resolver_broken(f: EndpointFacts) -> Evidence | None:
    if f.resolver_addresses or not f.resolver_answers or f.vantage.resolver or f.target.is_control:
        return None
    return ("the resolver under test answers neither this name nor the control names",)


def dns_other_failure(f: EndpointFacts) -> Evidence | None:
    failure = f.resolver_failures.get(f.address_type)
    if f.resolver_addresses or failure is None or not f.resolver_answers or f.judged:
        return None
    return (f"resolver failed with {failure} and no address could be tested",)


# --- TCP and TLS ---------------------------------------------------------------------------------------------------


def _failing(f: EndpointFacts) -> tuple[AddressFacts, ...]:
    """The judged addresses, when every one of them fails repeatedly (none works)."""
    judged = f.judged
    if not judged or any(a.works for a in judged):
        return ()
    return judged


def _kind(f: EndpointFacts) -> str | None:
    """The most common kind of failure among the failing judged addresses. On a tie (say an IPv4 and an IPv6
    address failing differently), a failure of the path goes before one of the vantage point, then the name
    decides: the verdict must never depend on the order of a set."""
    failing = _failing(f)
    kinds = [a.kind for a in failing if a.kind]
    if not kinds:
        return None
    return max(sorted(set(kinds)), key=lambda k: (kinds.count(k), k not in ("local", "unreachable")))


def _tries_text(a: AddressFacts, what: str) -> str:
    if not a.counted:
        return what
    text = f"{a.failures} of {len(a.counted)} {what} to {a.ip}:{a.counted[0].connect.port}"
    if a.residue:
        text += (
            f" ({len(a.residue)} later connections that the penalty box refused are not counted: they show the "
            "box, not this name)"
        )
    return text


def _control_sni_text(a: AddressFacts) -> str | None:
    c = a.control_before
    if c is None:
        return None
    sni = c.handshake.server_name if c.handshake else "the control name"
    if c.reached_tls:
        return f"the control SNI {sni} completed a handshake with the same address just before"
    return f"the control SNI {sni} failed at the same address too ({c.kind})"


def _residual_text(a: AddressFacts) -> str | None:
    c = a.control_after
    if c is None or c.reached_tls or a.control_before is None or not a.control_before.reached_tls:
        return None
    return f"afterwards the control SNI failed too ({c.kind}): residual blocking of the address and port"


def vantage_no_tls(f: EndpointFacts) -> Evidence | None:
    kind = _kind(f)
    if kind is not None and kind.startswith("tls.") and f.vantage.has_controls and not f.vantage.tls:
        return ("no control endpoint completed a valid TLS handshake either: TLS failures cannot be judged here",)
    return None


def _contrast(f: EndpointFacts) -> bool:
    """Controls connect on the endpoint's own port: a network that lets only 80 and 443 out would otherwise make
    every app on another port look blocked."""
    return f.vantage.has_controls and f.target.port in f.vantage.ports


def _icmp_contrast(f: EndpointFacts) -> bool:
    """Controls connect on the port over the address family the ICMP errors came back on: the vantage point has a
    route there, so the router that refused the address chose to (issue 15)."""
    families = {a.version for a in _failing(f)}
    have = {4} if f.vantage.ipv4 else set()
    have |= {6} if f.vantage.ipv6 else set()
    return _contrast(f) and bool(families) and families <= have


def _no_contrast_text(f: EndpointFacts) -> str:
    if not f.vantage.has_controls:
        return "no control endpoints to compare with"
    ports = ", ".join(str(p) for p in f.vantage.ports) or "none"
    return f"no control endpoint on port {f.target.port} to compare with (controls connect on: {ports})"


def vantage_local_firewall(f: EndpointFacts) -> Evidence | None:
    if _kind(f) == "local":
        return ("connect() was refused locally (permission denied): a firewall on this machine, not the path",)
    return None


def vantage_no_route(f: EndpointFacts) -> Evidence | None:
    kind = _kind(f)
    if kind == "unreachable":
        return ("no route to the endpoint's addresses from this vantage point (e.g. IPv6 only, without IPv6)",)
    if kind == "tcp.icmp" and not _icmp_contrast(f):
        return (
            "a router answered the connection attempts with ICMP unreachable, and no control connects over the "
            f"same address family on port {f.target.port} to tell the path's policy from this vantage point's",
        )
    return None


def vantage_no_family(f: EndpointFacts) -> Evidence | None:
    """Judging one address family alone, where no control connects over it: the vantage point has no working
    IPv6 (or IPv4), a route that leads nowhere included, and its failures are the volunteer's network's, not the
    service's path (issue 15). Without controls nothing tells the two apart, and the usual low verdicts stand."""
    if f.family is None or not f.vantage.has_controls or not _failing(f):
        return None
    if f.vantage.ipv6 if f.family == 6 else f.vantage.ipv4:
        return None
    name = f"IPv{f.family}"
    return (
        f"no control endpoint connects over {name} from this vantage point: its {name} is missing or broken, so "
        f"{name} failures here say nothing about the path to the service",
    )


def vantage_restricted(f: EndpointFacts) -> Evidence | None:
    """In a run where only domestic hosts answer, a failure is what every foreign host suffers: no verdict about
    this endpoint (contract additions: `restricted`)."""
    v = f.vantage
    if v.status is not VantageStatus.RESTRICTED or not (_failing(f) or _name_unanswered(f)):
        return None
    return (
        f"only domestic hosts reachable: {v.domestic} domestic control endpoints connect, none of the international "
        "ones (a national allowlist or an international cut); a failure here is no evidence against this endpoint",
    )


def vantage_lossy(f: EndpointFacts) -> Evidence | None:
    """Every try failed, but the controls' own tries failed so often in this run that chance explains it."""
    failing = _failing(f)
    undecided = [a for a in failing if a.undecided]
    if not undecided or f.vantage.loss is None:
        return None
    a = undecided[0]
    v = f.vantage
    return (
        f"{_tries_text(a, 'tries failed')} ({a.kind}), but {v.control_try_failures} of {v.control_tries} tries to "
        f"the control endpoints failed too: at that rate this is loss as often as a block",
    )


def vantage_lost(f: EndpointFacts) -> Evidence | None:
    if _failing(f) and f.vantage.afterflight is False:
        return ("the control endpoints failed after the targets too: the vantage point lost connectivity mid-run",)
    return None


def _transport_rule(kind: str, what: str, contrast: str) -> Condition:
    """A TCP failure of one kind at every judged address, repeated, while the controls connect (`contrast`)."""

    def condition(f: EndpointFacts) -> Evidence | None:
        failing = _failing(f)
        if _kind(f) != kind or (contrast == "controls") != _contrast(f):
            return None
        text = [_tries_text(a, what) for a in failing if a.kind == kind][:3]
        if contrast == "controls":
            text.append(f"control endpoints connect on port {f.target.port}")
        else:
            text.append(_no_contrast_text(f))
        return tuple(text)

    return condition


def _tls_rule(kind: str, what: str, control_sni_ok: bool | None) -> Condition:
    """A handshake failure of one kind at every judged address. `control_sni_ok`: True needs the control SNI to
    have completed at the same address (SNI filtering), False needs it to have failed, None ignores it."""

    def condition(f: EndpointFacts) -> Evidence | None:
        failing = [a for a in _failing(f) if a.kind == kind]
        if _kind(f) != kind or not failing:
            return None
        sni_ok = any(a.control_before is not None and a.control_before.reached_tls for a in failing)
        if control_sni_ok is not None and sni_ok != control_sni_ok:
            return None
        if control_sni_ok is None and not _contrast(f):
            return None
        text = [_tries_text(a, f"{what} with SNI {f.target.server_name}") for a in failing[:3]]
        text += [t for a in failing[:1] for t in (_control_sni_text(a), _residual_text(a)) if t]
        return tuple(text)

    return condition


def _injected(kind: str, flag: str) -> Condition:
    """The failure of every judged address is a RST or FIN that the packets show was not the server's."""

    def condition(f: EndpointFacts) -> Evidence | None:
        failing = [a for a in _failing(f) if a.kind == kind]
        if _kind(f) != kind or not failing:
            return None
        for a in failing:
            for attempt in a.tries:
                why = attempt.injected(flag)
                if why:
                    text = [_tries_text(a, f"tries failed ({kind})"), f"packets of {a.ip}: {why}"]
                    text += [t for t in (_control_sni_text(a), _residual_text(a)) if t]
                    return tuple(text)
        return None

    return condition


def _accepted(a: AddressFacts) -> bool:
    """The address accepted some connection in this measurement (a try, or the control SNI before or after)."""
    return any(x.connected for x in (*a.tries, a.control_before, a.control_after) if x is not None)


def _refused(accepted: bool) -> Condition:
    """RSTs to the SYN at every judged address while the controls connect; `accepted` splits the addresses that
    took other connections in the same measurement (the refusal is selective) from those that never did: a
    server that is down refuses every connection with its own RST, just like a censor that resets every SYN, and
    nothing seen tells the two apart (issue 15)."""
    base = _transport_rule("tcp.reset", "connections were refused (RST)", "controls")

    def condition(f: EndpointFacts) -> Evidence | None:
        evidence = base(f)
        if evidence is None or any(_accepted(a) for a in _failing(f)) != accepted:
            return None
        if accepted:
            return (*evidence, "the same address accepted other connections in this measurement: selective refusals")
        return (
            *evidence,
            "no connection to the address was ever accepted, so no packet of its server was seen to compare the "
            "RSTs with: a server that is down refuses the same way",
        )

    return condition


def tcp_reset_icmp(f: EndpointFacts) -> Evidence | None:
    """The SYNs are answered by a router's ICMP destination unreachable (administratively prohibited, host
    unreachable) while controls connect over the same family and port: refused on the path, as a RST is
    (iptables REJECT's default, ICMP port unreachable, already reads as a refused connection)."""
    failing = [a for a in _failing(f) if a.kind == "tcp.icmp"]
    if _kind(f) != "tcp.icmp" or not failing or not _icmp_contrast(f):
        return None
    text = [_tries_text(a, "connections were refused by an ICMP unreachable (host_unreachable)") for a in failing[:3]]
    text.append(
        f"control endpoints connect on port {f.target.port} over the same address family: the vantage point has a "
        "route, a router on the path refuses this address"
    )
    return tuple(text)


def tcp_reset_injected(f: EndpointFacts) -> Evidence | None:
    """A RST to the SYN whose IP TTL is not the one the same server's SYN-ACKs carry on other connections."""
    failing = [a for a in _failing(f) if a.kind == "tcp.reset"]
    if _kind(f) != "tcp.reset" or not failing:
        return None
    for a in failing:
        known = f.server_ttls(a.ip)
        for attempt in a.tries:
            odd = [p for p in attempt.terminators("R") if known and p.ttl not in known]
            if odd:
                return (
                    _tries_text(a, "connections were refused (RST)"),
                    f"packets of {a.ip}: RST with IP TTL {odd[0].ttl} where its SYN-ACKs carry {sorted(known)}",
                )
    return None


def tls_mitm_forged(f: EndpointFacts) -> Evidence | None:
    """An untrusted certificate that names the target (exactly or by wildcard, in any position of its names, as
    interception boxes that copy the genuine certificate's subject do): someone minted it for this connection.
    Decided on the certificate's names, never on the text of an evidence string (examples.md item 3)."""
    failing = [a for a in _failing(f) if a.kind == "tls.mitm"]
    for a in failing:
        for attempt in a.counted:
            h = attempt.handshake
            if h is None or h.failure != Failure.SSL_UNKNOWN_AUTHORITY.value:
                continue
            cert = leaf_certificate(h)
            if cert is not None and cert.covers(f.target.server_name):
                return (
                    f"{a.ip} presented a certificate {cert.summary}, which names {f.target.server_name} and which no "
                    "trust anchor vouches for",
                    *[t for t in (_control_sni_text(a),) if t],
                )
    return None


def tls_mitm_other(f: EndpointFacts) -> Evidence | None:
    failing = [a for a in _failing(f) if a.kind == "tls.mitm"]
    if _kind(f) != "tls.mitm" or not failing:
        return None
    a = failing[0]
    h = next((t.handshake for t in a.tries if t.handshake is not None), None)
    failure = h.failure if h is not None else "?"
    return (
        f"{a.ip} presented a certificate {leaf_summary(h) or ''} that is not valid for "
        f"{f.target.server_name} ({failure})",
    )


def tls_expired(f: EndpointFacts) -> Evidence | None:
    if _kind(f) != "tls.expired":
        return None
    return ("the certificate is outside its validity period: a server mistake or this machine's clock, not a block",)


def tls_not_tls(f: EndpointFacts) -> Evidence | None:
    if _kind(f) not in ("tls.other", "tcp.other"):
        return None
    a = _failing(f)[0]
    failure = next((t.handshake.failure if t.handshake else t.connect.status.failure for t in a.tries if t.kind), None)
    return (f"{a.ip} failed in an unexpected way ({failure}); not a known blocking signature",)


# --- the control vantage (`probe helper serve`, issue 17) -----------------------------------------------------------
# What the project's own vantage point outside the censors saw of the endpoint, a few minutes apart at most
# (facts.HELPER_WINDOW): a failure it shares is no evidence of censorship here, and the addresses and certificates
# it was given are legitimate (see `_suspect`). A helper that could not be reached is a vantage fact only: no rule
# reads it.

# Failures that an endpoint down everywhere produces too (a local firewall, a missing route and a certificate have
# rules of their own); a protocol's first exchange (issue 16) fails at the helper too when the service behind the
# port is broken, and the helper's `works` counts it.
_DOWN_KINDS = {
    "tcp.timeout", "tcp.reset", "tcp.icmp", "tcp.other", "tls.timeout", "tls.reset", "tls.closed", "tls.other",
    "app.timeout", "app.reset", "app.closed",
}  # fmt: skip


def _helper_text(f: EndpointFacts) -> str:
    h = f.helper
    assert h is not None
    return f"the control vantage ({h.probe_cc} {h.probe_asn}) measured it at {h.measured_at} UTC"


def helper_dns_down_too(f: EndpointFacts) -> Evidence | None:
    h = f.helper
    if h is None or f.resolver_addresses or not f.resolver_failures or f.doh_addresses or not f.helper_down:
        return None
    if h.addresses:
        return None
    return (
        f"down at the control vantage too: its resolvers give no address for {f.target.host} either "
        f"({h.dns_failure}); {_helper_text(f)}",
    )


def dns_nxdomain_helper_resolves(f: EndpointFacts) -> Evidence | None:
    if _resolver_nxdomain(f) and not f.doh_addresses and f.helper_addresses:
        return (
            f"resolver says NXDOMAIN; the control vantage resolves it to {', '.join(f.helper_addresses[:3])} "
            f"({_helper_text(f)})",
        )
    return None


def dns_nodata_helper_resolves(f: EndpointFacts) -> Evidence | None:
    if f.resolver_nodata and not f.doh_addresses and f.helper_addresses:
        return (
            f"resolver gives no address for the name ({f.resolver_nodata}); the control vantage resolves it to "
            f"{', '.join(f.helper_addresses[:3])} ({_helper_text(f)})",
        )
    return None


def helper_down_too(f: EndpointFacts) -> Evidence | None:
    h = f.helper
    if h is None or _kind(f) not in _DOWN_KINDS or not f.helper_down:
        return None
    there = [f"{c.ip}: {c.failures} of {c.tries} tries failed ({c.failure})" for c in h.connections[:3]]
    here = [_tries_text(a, f"tries failed here ({a.kind})") for a in _failing(f)[:2]]
    return (
        f"down at the control vantage too: {_helper_text(f)}: " + ("; ".join(there) or f"{h.dns_failure}"),
        *here,
    )


def helper_same_certificate(f: EndpointFacts) -> Evidence | None:
    failing = [a for a in _failing(f) if a.kind == "tls.mitm"]
    if _kind(f) != "tls.mitm" or not failing or not all(f.helper_certificate_at([a.ip]) for a in failing):
        return None
    a = failing[0]
    h = next((t.handshake for t in a.tries if t.handshake is not None), None)
    leaf = sorted(f.leaves_at(a.ip))[0]
    return (
        f"{a.ip} presented the certificate {leaf_summary(h) or ''} that the control vantage was presented too "
        f"(sha256 {leaf[:16]}...): the genuine server's, not an interception",
        f"this machine's trust anchors do not vouch for it ({h.failure if h is not None else '?'})",
    )


# --- past the handshake (issue 16) ----------------------------------------------------------------------------------
# The first exchange of a `first_message` endpoint (every try), and the transfers of a `transfer` endpoint (pairs
# of target and control SNI at one address, at the same time).


def _app_rule(kind: str, outcome: str, contrast: str) -> Condition:
    """The connect worked at every judged address but the protocol's first exchange failed the same way
    (`outcome`), repeatedly, with the transport rules' contrast (controls connect on this port)."""

    def condition(f: EndpointFacts) -> Evidence | None:
        failing = [a for a in _failing(f) if a.kind == kind]
        if _kind(f) != kind or not failing or (contrast == "controls") != _contrast(f):
            return None
        protocol = f.target.first_message or "first"
        text = [
            f"{a.failures} of {len(a.tries)} {protocol} first messages {outcome} at {a.ip}:{f.target.port}, "
            "each right after a TCP connect that succeeded"
            for a in failing[:3]
        ]
        text.append(
            f"control endpoints connect on port {f.target.port}" if contrast == "controls" else _no_contrast_text(f)
        )
        return tuple(text)

    return condition


def app_unexpected(f: EndpointFacts) -> Evidence | None:
    failing = [a for a in _failing(f) if a.kind == "app.unexpected"]
    if _kind(f) != "app.unexpected" or not failing:
        return None
    a = failing[0]
    app = next((t.app for t in a.tries if t.app is not None and t.app.failure), None)
    what = app.answer if app is not None and app.answer else (app.failure if app else "?")
    return (f"{_tries_text(a, 'first messages got another answer')}: {what}; not a known blocking signature",)


def _kbit(bytes_per_second: float) -> str:
    bits = bytes_per_second * 8
    return f"{bits / 1e6:.1f} Mbit/s" if bits >= 1e6 else f"{bits / 1e3:.0f} kbit/s"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _transfer_where(pairs: tuple[TransferPair, ...]) -> str:
    t = pairs[0].target
    return f"{t.path} from {t.address}"


def tls_stall(f: EndpointFacts) -> Evidence | None:
    """Every target transfer (at least two) stopped for good while the control SNI's beside it completed."""
    pairs = f.transfer_pairs
    if len(pairs) < 2 or not all(p.stalled for p in pairs):
        return None
    got = sorted(p.target.num_bytes for p in pairs)
    silent = min(p.target.t - (p.target.t_last_byte or p.target.t_request or p.target.t) for p in pairs)
    span = f"{got[0]}" if got[0] == got[-1] else f"{got[0]}-{got[-1]}"
    return (
        f"{len(pairs)} of {len(pairs)} transfers of {_transfer_where(pairs)} with SNI {f.target.server_name} "
        f"stopped after {span} bytes and sent nothing more for {silent:.1f} s",
        f"the control SNI's transfers beside them, at the same address, completed "
        f"({min(p.control.num_bytes for p in pairs)} bytes or more)",
    )


# A run whose control tries failed at this rate or more (VantageFacts.loss: two failures in some thirty tries) is on
# a path that loses packets: there a TCP transfer's retransmission timeouts (0.2 s, doubling) stop one transfer for
# seconds or slow it tenfold beside another as a matter of chance (bench.lossy at 30% loss: a tls.throttled in 1
# of 20 runs before this rule).
LOSSY_TRANSFERS = 0.05


def vantage_lossy_transfer(f: EndpointFacts) -> Evidence | None:
    """Transfers that would read stalled or throttled, in a run whose controls' own tries failed this often."""
    loss = f.vantage.loss
    if loss is None or loss < LOSSY_TRANSFERS:
        return None
    if tls_stall(f) is not None:
        what = "stopped for good while the control SNI's beside them completed"
    elif tls_throttled(f) is not None:
        what = "ran at a tenth or less of the control SNI's throughput beside them"
    else:
        return None
    v = f.vantage
    return (
        f"every transfer of {_transfer_where(f.transfer_pairs)} with SNI {f.target.server_name} {what}, but "
        f"{v.control_try_failures} of {v.control_tries} tries to the control endpoints failed in this run: on a "
        "path that loses packets this often, retransmission timeouts stop or slow a transfer by chance",
    )


def transfer_stall_any_sni(f: EndpointFacts) -> Evidence | None:
    """Target and control transfers both stopped: the address freezes every connection (by address, as Russia
    froze foreign hosting in 2025), or the server is broken; one vantage point cannot tell which."""
    pairs = f.transfer_pairs
    if len(pairs) < 2 or not all(p.both_stalled for p in pairs):
        return None
    return (
        f"transfers of {_transfer_where(pairs)} stopped after {min(p.target.num_bytes for p in pairs)} bytes with "
        f"SNI {f.target.server_name} and with the control SNI alike: a freeze of the address, or a broken server",
    )


def tls_throttled(f: EndpointFacts) -> Evidence | None:
    """Every target transfer (at least two) ran at a tenth or less of the control SNI's beside it."""
    pairs = f.transfer_pairs
    if len(pairs) < 2 or not all(p.throttled for p in pairs):
        return None
    ratios = [p.ratio for p in pairs]
    target = _median([r for p in pairs if (r := rate(p.target)) is not None])
    control = _median([r for p in pairs if (r := rate(p.control)) is not None])
    worst = max(r for r in ratios if r is not None)
    return (
        f"{len(pairs)} of {len(pairs)} transfers of {_transfer_where(pairs)} with SNI {f.target.server_name} ran at "
        f"{_kbit(target)} (median), the control SNI's beside them at the same address at {_kbit(control)}: "
        f"{worst:.1%} of it at most",
    )


def transfer_summary(f: EndpointFacts) -> str | None:
    """What the transfers showed, for an `ok` (a slow server, or an address throttled whatever the SNI, looks the
    same from here: both names slow)."""
    pairs = f.transfer_pairs
    if not pairs:
        return None
    complete = sum(1 for p in pairs if p.target.failure is None)
    target = [r for p in pairs if (r := rate(p.target)) is not None]
    control = [r for p in pairs if (r := rate(p.control)) is not None]
    rates = f"; median {_kbit(_median(target))} with SNI {f.target.server_name}" if target else ""
    if control:
        rates += f", {_kbit(_median(control))} with the control SNI beside them"
    else:
        rates += "; the control SNI's responses were too short to compare"
    return f"transfers of {_transfer_where(pairs)}: {complete} of {len(pairs)} complete{rates}"


SLOW_HANDSHAKE_FACTOR = 10  # issue 16: target-SNI handshakes ten times slower than the control SNI's
# Seconds: below this, a tenfold difference is the probe's own load, not the path (the target's tries run five at
# once, the control SNI's alone; a busy 2-core lab machine made 175 ms of 2 ms). A throttle to 140 kbit/s adds
# about this much to a handshake's few kilobytes.
SLOW_HANDSHAKE_FLOOR = 0.25


def handshake_timing(f: EndpointFacts) -> str | None:
    """Evidence, never a verdict alone: handshakes with the target's SNI ten times slower than the control SNI's
    at the same address (a throttle by SNI slows the certificate's kilobytes too). The fastest of the target's
    tries is compared: they run at once, so the others wait for the probe's own CPU."""
    if f.target.protocol != "tls":
        return None
    for a in f.judged:
        control = a.control_before
        done = [t.handshake for t in a.tries if t.ok and t.handshake is not None]
        if control is None or control.handshake is None or not control.reached_tls or not done:
            continue
        reference = control.handshake.t - control.handshake.t0
        seconds = min(h.t - h.t0 for h in done)
        # A probe whose own event loop fell behind (a busy machine) delays every handshake it drives by as much.
        floor = max(SLOW_HANDSHAKE_FLOOR, f.vantage.loop_lag)
        if seconds >= SLOW_HANDSHAKE_FACTOR * reference and seconds - reference >= floor:
            return (
                f"handshakes with SNI {f.target.server_name} at {a.ip} took {_ms(seconds)} or more ({len(done)} "
                f"tries), {seconds / max(reference, 1e-6):.0f} times the control SNI's {_ms(reference)}"
            )
    return None


# --- success --------------------------------------------------------------------------------------------------------


def works(f: EndpointFacts) -> Evidence | None:
    judged = f.judged
    if not judged:
        return None
    good = [a for a in judged if a.works]
    if not good:
        return None
    text = []
    flaky = [a for a in good if a.failures]
    if flaky:
        a = flaky[0]
        text.append(f"{a.failures} of {len(a.counted)} tries to {a.ip} failed: loss, not a repeatable block")
    boxed = [a for a in good if a.residue]
    if boxed:
        a = boxed[0]
        text.append(
            f"{len(a.residue)} later connections to {a.ip} were refused, and the control SNI afterwards too: the "
            "address was in a penalty box (another name's trigger), not counted against this name"
        )
    bad = [a for a in judged if not a.works]
    if bad:
        text.append(f"{len(bad)} of {len(judged)} addresses fail ({bad[0].ip}: {bad[0].kind}); the others work")
    transfers = transfer_summary(f)
    if transfers:
        text.append(transfers)
    return tuple(text)


def nothing_to_judge(f: EndpointFacts) -> Evidence | None:
    return ("no address could be tested for this endpoint",)


# fmt: off
RULES: tuple[Rule, ...] = (
    Rule("vantage.offline", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_offline,
         "Controls fail too: nothing here can be told from an offline vantage point."),
    Rule("dns.injection.non_resolver", Verdict.DNS_INJECTION, Confidence.HIGH, dns_non_resolver_answered,
         "A host that runs no DNS server cannot answer: the answer was forged on the path."),
    Rule("dns.injection.two_answers", Verdict.DNS_INJECTION, Confidence.HIGH, dns_two_answers,
         "Two different answers to one query id: two senders, one of them on the path (OONI tq-002)."),
    Rule("vantage.captive_portal", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_captive_portal,
         "A captive portal answers every name itself: log in first, then measure."),
    Rule("vantage.resolver_rewrites", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_resolver_rewrites,
         "A resolver that lies about every name, the controls' too, is no evidence against one name."),
    Rule("dns.nxdomain.everywhere", Verdict.INCONCLUSIVE, Confidence.LOW, dns_nxdomain_everywhere,
         "The control agrees the name does not exist: a gone or wrong name, not censorship."),
    Rule("helper.dns_down_too", Verdict.INCONCLUSIVE, Confidence.LOW, helper_dns_down_too,
         "The control vantage's resolvers find no address either: the name is down everywhere (issue 17)."),
    Rule("dns.nxdomain.control_resolves", Verdict.DNS_NXDOMAIN, Confidence.MEDIUM, dns_nxdomain_control_resolves,
         "The resolver denies a name the DoH control resolves."),
    Rule("dns.nxdomain.helper_resolves", Verdict.DNS_NXDOMAIN, Confidence.MEDIUM, dns_nxdomain_helper_resolves,
         "The resolver denies a name the control vantage resolves, where DoH gave no answer (issue 17)."),
    Rule("dns.nxdomain.no_control", Verdict.DNS_NXDOMAIN, Confidence.LOW, dns_nxdomain_no_control,
         "The resolver denies the name but answers the controls; no DoH answer to contrast."),
    Rule("dns.nodata.everywhere", Verdict.INCONCLUSIVE, Confidence.LOW, dns_nodata_everywhere,
         "The DoH control has no address for the name either: nothing was taken away."),
    Rule("dns.nodata.control_resolves", Verdict.DNS_NODATA, Confidence.MEDIUM, dns_nodata_control_resolves,
         "Empty NOERROR or SERVFAIL for a name the DoH control resolves: the name was removed from the resolver."),
    Rule("dns.nodata.helper_resolves", Verdict.DNS_NODATA, Confidence.MEDIUM, dns_nodata_helper_resolves,
         "The resolver has no address for a name the control vantage resolves, where DoH gave none (issue 17)."),
    Rule("dns.nodata.no_control", Verdict.DNS_NODATA, Confidence.LOW, dns_nodata_no_control,
         "An empty NOERROR answer for the name from a resolver that answers the controls; no DoH answer."),
    Rule("dns.bogon.known_forged", Verdict.DNS_BOGON, Confidence.HIGH, dns_bogon_known,
         "A non-routable answer from a known censor's pool, not given by the control."),
    Rule("dns.bogon.control_differs", Verdict.DNS_BOGON, Confidence.MEDIUM, dns_bogon_control_differs,
         "A non-routable answer the control does not give (OONI bogon_not_in_ctrl)."),
    Rule("dns.bogon.no_control", Verdict.DNS_BOGON, Confidence.LOW, dns_bogon_no_control,
         "A non-routable answer that proved nothing, from a resolver that answers the controls; no DoH answer."),
    Rule("dns.bogon.unjudged", Verdict.INCONCLUSIVE, Confidence.LOW, dns_bogon_unjudged,
         "A non-routable answer with nothing to compare: no verdict, and none about the path to a made-up address."),
    Rule("dns.mismatch.known_forged", Verdict.DNS_MISMATCH, Confidence.HIGH, dns_mismatch_known,
         "A routable answer from a known forged pool that the control does not give."),
    Rule("dns.mismatch.tls_invalid", Verdict.DNS_MISMATCH, Confidence.MEDIUM, dns_mismatch_tls_invalid,
         "A routable answer outside the control's set and the expected ASNs, without a valid certificate."),
    Rule("dns.mismatch.unreachable", Verdict.DNS_MISMATCH, Confidence.MEDIUM, dns_mismatch_unreachable,
         "A routable answer outside the control's set that never connects, while the control's does."),
    Rule("vantage.overloaded", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_overloaded,
         "A probe too busy to keep time cannot tell a dropped packet from its own delay."),
    Rule("vantage.restricted", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_restricted,
         "Only domestic hosts answer this vantage point: a foreign endpoint's failure says nothing about it."),
    Rule("vantage.lossy_dns", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_lossy_dns,
         "Queries for the control names went unanswered too: unanswered queries for one name may be loss."),
    Rule("dns.timeout.resolver_ok", Verdict.DNS_TIMEOUT, Confidence.MEDIUM, dns_timeout,
         "Only this name goes unanswered by a resolver that answers the control names."),
    Rule("dns.resolver_broken", Verdict.INCONCLUSIVE, Confidence.LOW, dns_resolver_broken,
         "The resolver answers nothing: a broken resolver, not a blocked name."),
    Rule("dns.other_failure", Verdict.INCONCLUSIVE, Confidence.LOW, dns_other_failure,
         "A DNS failure that is no known blocking signature, and nothing else to test."),
    Rule("vantage.local_firewall", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_local_firewall,
         "EPERM/EACCES from connect(): local policy, never the path."),
    Rule("vantage.no_route", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_no_route,
         "No route from here (a network without IPv6): the vantage point, not the path."),
    Rule("vantage.no_family", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_no_family,
         "Judged over one address family, which no control connects over: the vantage point's, not the path."),
    Rule("vantage.lost", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_lost,
         "The after-flight canaries failed: the failures may be the vantage point's own."),
    Rule("vantage.lossy", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_lossy,
         "Every try failed, but no more often than the controls' own tries would by chance in this run."),
    Rule("vantage.no_tls", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_no_tls,
         "TLS fails for the controls too (an intercepting proxy, a broken clock): no contrast for TLS verdicts."),
    Rule("helper.down_too", Verdict.INCONCLUSIVE, Confidence.LOW, helper_down_too,
         "The control vantage cannot reach the endpoint either: down everywhere, not blocked here (issue 17)."),
    Rule("tcp.timeout.controls_ok", Verdict.TCP_TIMEOUT, Confidence.MEDIUM,
         _transport_rule("tcp.timeout", "connections timed out", "controls"),
         "SYNs to the address go unanswered while the controls connect: an IP blackhole."),
    Rule("tcp.timeout.no_control", Verdict.TCP_TIMEOUT, Confidence.LOW,
         _transport_rule("tcp.timeout", "connections timed out", "none"),
         "SYNs go unanswered; no control to contrast."),
    Rule("tcp.reset.icmp", Verdict.TCP_RESET, Confidence.MEDIUM, tcp_reset_icmp,
         "A router's ICMP unreachable answers the SYN while controls connect over that family: refused on the path."),
    Rule("tcp.reset.injected", Verdict.TCP_RESET, Confidence.HIGH, tcp_reset_injected,
         "A RST to the SYN with another IP TTL than the server's own SYN-ACKs: a middlebox sent it."),
    Rule("tcp.reset.controls_ok", Verdict.TCP_RESET, Confidence.MEDIUM, _refused(accepted=True),
         "The connection attempt is answered by a RST while the controls connect and the address takes others."),
    Rule("tcp.reset.server_unseen", Verdict.TCP_RESET, Confidence.LOW, _refused(accepted=False),
         "Every connection to the address is refused while the controls connect; no packet of its server was seen."),
    Rule("tcp.reset.no_control", Verdict.TCP_RESET, Confidence.LOW,
         _transport_rule("tcp.reset", "connections were refused (RST)", "none"),
         "The connection attempt is answered by a RST; no control to contrast."),
    Rule("helper.same_certificate", Verdict.INCONCLUSIVE, Confidence.LOW, helper_same_certificate,
         "The certificate that fails validation here is the one the control vantage sees: not interception "
         "(issue 17)."),
    Rule("tls.mitm.forged_certificate", Verdict.TLS_MITM, Confidence.HIGH, tls_mitm_forged,
         "An untrusted certificate naming the target: minted by an interception box."),
    Rule("tls.mitm.invalid_certificate", Verdict.TLS_MITM, Confidence.MEDIUM, tls_mitm_other,
         "A certificate not valid for the name (untrusted issuer or wrong name)."),
    Rule("tls.expired", Verdict.INCONCLUSIVE, Confidence.LOW, tls_expired,
         "Validity-period failures come from servers and clocks, not censors."),
    Rule("tls.reset.injected", Verdict.TLS_RESET, Confidence.HIGH, _injected("tls.reset", "R"),
         "The RST after the ClientHello was not the server's: other TTL, a burst, or the reply arrived anyway."),
    Rule("tls.reset.sni", Verdict.TLS_RESET, Confidence.MEDIUM,
         _tls_rule("tls.reset", "handshakes were reset after the ClientHello", True),
         "Reset after the ClientHello with the target SNI, while the control SNI completes: SNI filtering."),
    Rule("tls.reset.any_sni", Verdict.TLS_RESET, Confidence.LOW,
         _tls_rule("tls.reset", "handshakes were reset after the ClientHello", False),
         "Reset after the ClientHello whatever the SNI: not SNI-specific."),
    Rule("tls.timeout.sni", Verdict.TLS_TIMEOUT, Confidence.MEDIUM,
         _tls_rule("tls.timeout", "handshakes stalled after the ClientHello", True),
         "The handshake stalls with the target SNI, while the control SNI completes."),
    Rule("tls.timeout.any_sni", Verdict.TLS_TIMEOUT, Confidence.LOW,
         _tls_rule("tls.timeout", "handshakes stalled after the ClientHello", False),
         "The handshake stalls whatever the SNI."),
    Rule("tls.closed.injected", Verdict.TLS_CLOSED, Confidence.HIGH, _injected("tls.closed", "F"),
         "The FIN after the ClientHello was not the server's: another TTL than its SYN-ACK, or a burst."),
    Rule("tls.closed.sni", Verdict.TLS_CLOSED, Confidence.MEDIUM,
         _tls_rule("tls.closed", "handshakes were closed after the ClientHello", True),
         "FIN or alert after the ClientHello with the target SNI, while the control SNI completes."),
    Rule("tls.closed.any_sni", Verdict.TLS_CLOSED, Confidence.LOW,
         _tls_rule("tls.closed", "handshakes were closed after the ClientHello", False),
         "FIN or alert after the ClientHello whatever the SNI."),
    # --- past the handshake (issue 16) ---
    Rule("app.reset.injected", Verdict.APP_RESET, Confidence.HIGH, _injected("app.reset", "R"),
         "The RST after the first message was not the server's: another TTL than its SYN-ACK, or a burst."),
    Rule("app.reset.controls_ok", Verdict.APP_RESET, Confidence.MEDIUM,
         _app_rule("app.reset", "were reset", "controls"),
         "Connected, then the protocol's first message is answered by a RST, while the controls connect."),
    Rule("app.reset.no_control", Verdict.APP_RESET, Confidence.LOW,
         _app_rule("app.reset", "were reset", "none"),
         "Connected, then the first message is reset; no control to contrast."),
    Rule("app.timeout.controls_ok", Verdict.APP_TIMEOUT, Confidence.MEDIUM,
         _app_rule("app.timeout", "went unanswered", "controls"),
         "Connected, then the protocol's first message goes unanswered (a DPI drop), while the controls connect."),
    Rule("app.timeout.no_control", Verdict.APP_TIMEOUT, Confidence.LOW,
         _app_rule("app.timeout", "went unanswered", "none"),
         "Connected, then the first message goes unanswered; no control to contrast."),
    Rule("app.closed.controls_ok", Verdict.APP_CLOSED, Confidence.MEDIUM,
         _app_rule("app.closed", "were closed", "controls"),
         "Connected, then the protocol's first message is answered by a close, while the controls connect."),
    Rule("app.closed.no_control", Verdict.APP_CLOSED, Confidence.LOW,
         _app_rule("app.closed", "were closed", "none"),
         "Connected, then the first message is closed; no control to contrast."),
    Rule("app.unexpected", Verdict.INCONCLUSIVE, Confidence.LOW, app_unexpected,
         "The first message got another protocol's answer: no known blocking signature, worth a look."),
    Rule("vantage.lossy_transfer", Verdict.INCONCLUSIVE, Confidence.LOW, vantage_lossy_transfer,
         "A transfer stalled or slow beside the control SNI's, on a path whose control tries fail: chance."),
    Rule("tls.stall.control_completes", Verdict.TLS_STALL, Confidence.MEDIUM, tls_stall,
         "Every transfer with the target SNI stops for good while the control SNI's beside it completes."),
    Rule("transfer.stall_any_sni", Verdict.INCONCLUSIVE, Confidence.LOW, transfer_stall_any_sni,
         "Transfers stop whatever the SNI: a freeze of the address or a broken server, not told apart here."),
    Rule("tls.throttled.control_faster", Verdict.TLS_THROTTLED, Confidence.MEDIUM, tls_throttled,
         "Every transfer with the target SNI runs at a tenth or less of the control SNI's beside it."),
    Rule("tls.unexpected", Verdict.INCONCLUSIVE, Confidence.LOW, tls_not_tls,
         "A failure that matches no blocking signature."),
    Rule("ok", Verdict.OK, Confidence.HIGH, works,
         "Resolved consistently, connected, and (for tls) a valid certificate for the name."),
    Rule("nothing_to_judge", Verdict.INCONCLUSIVE, Confidence.LOW, nothing_to_judge,
         "Nothing was measured that a verdict could rest on."),
)
# fmt: on
