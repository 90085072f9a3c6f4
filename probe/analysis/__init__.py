"""Judgement: pure functions from observations to verdicts. No sockets, no packet library, no clock.

Verdicts are stored beside the raw observations, never instead of them, and carry the id of the rule that decided
them and `ANALYSIS_VERSION`, so the dataset can judge old measurements again when the rules improve.
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.analysis.facts import EndpointFacts
from probe.analysis.rules import RULES, handshake_timing
from probe.analysis.services import aggregate
from probe.analysis.vantage import VantageFacts, assess
from probe.model import Confidence, EndpointVerdict, FamilyVerdict, Measured, Tag, Verdict

ANALYSIS_VERSION = "1"

__all__ = ["ANALYSIS_VERSION", "VantageFacts", "aggregate", "assess", "classify"]

# Verdicts whose best evidence is a packet: without a capture we say so.
_PACKET_VERDICTS = {
    Verdict.DNS_INJECTION,
    Verdict.TCP_RESET,
    Verdict.TLS_RESET,
    Verdict.TLS_CLOSED,
    Verdict.APP_RESET,
    Verdict.APP_CLOSED,
}


def classify(measured: Measured, vantage: VantageFacts) -> EndpointVerdict:
    """The verdict of one endpoint (the first rule of `RULES` whose condition holds), and the same judgement over
    each address family it has, apart (issue 15). A block of one family while the other works leaves the
    endpoint `ok`: the app gets through over the other, and the evidence says what failed."""
    overall = _judge(EndpointFacts(measured, vantage))
    families: list[FamilyVerdict] = []
    notes: list[str] = []
    for family in (4, 6):
        facts = EndpointFacts(measured, vantage.for_family(family), family)
        if not (facts.addresses or facts.resolver_addresses or facts.doh_addresses or facts.non_resolver_responses):
            continue  # nothing of this family to judge (an IPv4-only name, an IPv4 literal)
        v = _judge(facts)
        families.append(FamilyVerdict(family=f"ipv{family}", **v.model_dump(exclude={"families"})))
        if overall.verdict is Verdict.OK and v.verdict not in (Verdict.OK, Verdict.INCONCLUSIVE):
            notes.append(
                f"over IPv{family} alone: {v.verdict.value} ({v.rule_id}); the endpoint is reachable over the other "
                "address family, so this is no block of the service"
            )
    return overall.model_copy(update={"evidence": overall.evidence + tuple(notes), "families": tuple(families)})


def _judge(facts: EndpointFacts) -> EndpointVerdict:
    measured, vantage = facts.measured, facts.vantage
    for rule in RULES:
        evidence = rule.condition(facts)
        if evidence is None:
            continue
        confidence = rule.confidence
        notes: list[str] = []
        if rule.verdict is not Verdict.OK and rule.verdict is not Verdict.INCONCLUSIVE:
            if not vantage.has_controls:
                confidence = Confidence.LOW
                notes.append("the target list has no controls: confidence is at most low")
            if rule.verdict in _PACKET_VERDICTS and not measured.observations.packets:
                notes.append("packet capture not available: injected packets not confirmed by their headers")
            elif rule.verdict in _PACKET_VERDICTS and rule.confidence is not Confidence.HIGH:
                notes.append(_packet_note(facts))
        notes += _shared_note(facts)
        timing = handshake_timing(facts)  # evidence whatever the verdict, never a verdict alone (issue 16)
        if timing:
            notes.append(timing)
        return EndpointVerdict(
            verdict=rule.verdict, confidence=confidence, evidence=tuple(evidence) + tuple(notes), rule_id=rule.id
        )
    raise AssertionError("the last rule always matches")  # pragma: no cover


def _packet_note(facts: EndpointFacts) -> str:
    """What the captured packets say when they prove no injection: only what was seen (issue 15: a server that is
    down sends its own RSTs, and no packet of it is there to compare them with)."""
    ips = [a.ip for a in facts.judged]
    if facts.server_seen(ips):
        return "captured packets show no sign of injection (the server's own IP TTL, no burst)"
    return "captured packets hold no packet of the server itself to compare with"


def _shared_note(facts: EndpointFacts) -> list[str]:
    """Say so when the endpoint's address and port served other names of the run too (issue 15)."""
    shared = [a for a in facts.judged if any(Tag.SHARED_ADDRESS.value in t.connect.tags for t in a.tries)]
    if not shared:
        return []
    a = shared[0]
    return [
        f"{a.ip}:{a.tries[0].connect.port} serves other names of this run too: all their tries and these were open "
        "before the first ClientHello, so no name's trigger spoiled another's tries"
    ]


def classify_all(measured: Iterable[Measured], vantage: VantageFacts) -> tuple[EndpointVerdict, ...]:
    return tuple(classify(m, vantage) for m in measured)
