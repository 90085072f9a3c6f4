"""Judgement past the handshake (issue 16), on the scripted network: handshake timing as evidence only, an answer
in another protocol, and the transfer rules' demands (several pairs, controls with enough bytes)."""

from __future__ import annotations

import asyncio
import dataclasses

from probe import analysis
from probe.measure import ByteBudget, Plan, TransferPlan, measure
from probe.model import EndpointVerdict, Target
from tests.fakes import FakeNetwork, Flow, Script

V = "v"
CONTROL = Target(service="control", host="example.org", port=443, protocol="tls", list_version=V)
WEB = Target(service="line", host="line.me", port=443, protocol="tls", core=False, transfer="/", list_version=V)
DC = Target(service="telegram", host="203.0.113.50", port=443, protocol="tcp", first_message="mtproto",
            list_version=V)  # fmt: skip
WEB_IP = "203.0.113.30"
PLAN = Plan(resolver="192.0.2.53", doh_urls=("https://192.0.2.54/dns-query",))
GENUINE = {"example.org": ["198.51.100.1"], "line.me": [WEB_IP]}


def judge(target: Target, plan: Plan = PLAN, **script: object) -> EndpointVerdict:
    async def run() -> EndpointVerdict:
        net = FakeNetwork(Script(resolver=GENUINE, **script))  # type: ignore[arg-type]
        control = await measure(CONTROL, net, plan)
        return analysis.classify(await measure(target, net, plan), analysis.assess([control]))

    return asyncio.run(run())


def transfers(tries: int = 3) -> Plan:
    return dataclasses.replace(PLAN, transfer=TransferPlan(ByteBudget(), tries=tries, stall_window=2.0))


def test_target_sni_handshakes_ten_times_slower_are_evidence_never_a_verdict() -> None:
    slow = judge(WEB, handshake_seconds={(WEB_IP, "line.me"): 0.9})
    assert slow.verdict.value == "ok"
    assert any("times the control SNI's 30 ms" in e and "took 900 ms or more" in e for e in slow.evidence)
    # tenfold, but within the probe's own scheduling noise: no note
    quick = judge(WEB, handshake_seconds={(WEB_IP, "line.me"): 0.2, (WEB_IP, "example.org"): 0.004})
    assert not any("times the control SNI" in e for e in quick.evidence)


def test_another_protocols_answer_is_inconclusive() -> None:
    verdict = judge(DC, app={"203.0.113.50": "unexpected"})
    assert (verdict.verdict.value, verdict.rule_id) == ("inconclusive", "app.unexpected")


def test_one_throttled_pair_is_not_several_tries() -> None:
    verdict = judge(WEB, transfers(tries=1), flows={(WEB_IP, "line.me"): Flow(rate=17_500.0)})
    assert verdict.verdict.value == "ok"
    verdict = judge(WEB, transfers(tries=2), flows={(WEB_IP, "line.me"): Flow(rate=17_500.0)})
    assert verdict.verdict.value == "tls.throttled"


def test_a_control_too_short_to_compare_decides_nothing() -> None:
    """Real servers often answer another name's request with a short error page: no contrast, no verdict."""
    flows = {(WEB_IP, "line.me"): Flow(rate=17_500.0), (WEB_IP, "example.org"): Flow(size=400)}
    verdict = judge(WEB, transfers(), flows=flows)
    assert verdict.verdict.value == "ok"
    assert any("too short to compare" in e for e in verdict.evidence), verdict.evidence
    frozen = {(WEB_IP, "line.me"): Flow(stall_after=16_000), (WEB_IP, "example.org"): Flow(size=400)}
    assert judge(WEB, transfers(), flows=frozen).verdict.value == "ok"  # the control got less than the target did


def test_without_transfers_nothing_changes() -> None:
    verdict = judge(WEB, flows={(WEB_IP, "line.me"): Flow(stall_after=16_000)})
    assert verdict.verdict.value == "ok" and not any("transfers" in e for e in verdict.evidence)
