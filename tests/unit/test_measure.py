"""One endpoint's measurement over the scripted network: what is asked, in which order, and how often."""

from __future__ import annotations

import dataclasses
from typing import cast

from probe.analysis import VantageFacts
from probe.measure import ByteBudget, Plan, TransferPlan, measure, measure_many
from probe.model import Measured, Tag, Target
from probe.runner import RunOutcome
from tests.fakes import FakeNetwork, Script

LEGY = Target(service="line", host="legy.line-apps.com", port=443, protocol="tls", list_version="v")
PLAN = Plan(resolver="192.0.2.53", doh_urls=("https://192.0.2.54/dns-query",), non_resolver="198.51.100.1")


def tls_calls(net: FakeNetwork) -> list[tuple[str, int, str]]:
    return [args for kind, args in net.calls if kind == "tls"]  # type: ignore[misc]


async def test_the_control_sni_goes_first_then_the_target_tries() -> None:
    net = FakeNetwork(Script(resolver={"legy.line-apps.com": ["203.0.113.20"]}))
    measured = await measure(LEGY, net, PLAN)
    calls = tls_calls(net)
    assert calls[0] == ("203.0.113.20", 443, "example.org")
    assert calls[1:] == [("203.0.113.20", 443, "legy.line-apps.com")] * PLAN.tries
    tags = [h.tags for h in measured.observations.tls_handshakes]
    assert tags[0] == (Tag.CONTROL_SNI.value,) and all(t == (Tag.TARGET.value,) for t in tags[1:])


async def test_dns_asks_the_resolver_the_doh_control_and_a_non_resolver() -> None:
    net = FakeNetwork(Script(resolver={"legy.line-apps.com": ["203.0.113.20"]}))
    measured = await measure(LEGY, net, PLAN)
    tags = {q.tags[0] for q in measured.observations.queries}
    assert tags == {Tag.SYSTEM_RESOLVER.value, Tag.CONTROL_DOH.value, Tag.NON_RESOLVER.value}
    servers = {args[0] for kind, args in net.calls if kind == "dns_udp"}  # type: ignore[index]
    assert servers == {"192.0.2.53", "198.51.100.1"}


async def test_disagreeing_tries_are_extended_and_residual_blocking_is_looked_for() -> None:
    script = Script(
        resolver={"legy.line-apps.com": ["203.0.113.20"]},
        tls={("203.0.113.20", "legy.line-apps.com"): ["reset", "ok", "reset", "reset"]},
    )
    net = FakeNetwork(script)
    await measure(LEGY, net, PLAN)
    calls = tls_calls(net)
    assert calls.count(("203.0.113.20", 443, "legy.line-apps.com")) == PLAN.extended_tries
    assert calls.count(("203.0.113.20", 443, "example.org")) == 2  # before, and after the failures


async def test_a_consistent_outcome_needs_no_extra_tries() -> None:
    net = FakeNetwork(Script(resolver={"legy.line-apps.com": ["203.0.113.20"]},
                             tls={("203.0.113.20", "legy.line-apps.com"): "reset"}))  # fmt: skip
    await measure(LEGY, net, PLAN)
    assert tls_calls(net).count(("203.0.113.20", 443, "legy.line-apps.com")) == PLAN.tries


async def test_late_answers_doh_answers_and_fallbacks_are_all_tried() -> None:
    target = LEGY.model_copy(update={"fallback_addresses": ("198.51.100.77",)})
    net = FakeNetwork(Script(resolver={"legy.line-apps.com": ["10.10.34.35"]},
                             late={"legy.line-apps.com": ["203.0.113.20"]},
                             doh={"legy.line-apps.com": ["203.0.113.21"]}))  # fmt: skip
    measured = await measure(target, net, PLAN)
    tried = {c.ip for c in measured.observations.tcp_connect}
    assert tried == {"10.10.34.35", "203.0.113.20", "203.0.113.21", "198.51.100.77"}
    fallback = [c for c in measured.observations.tcp_connect if c.ip == "198.51.100.77"]
    assert all(Tag.FALLBACK_ADDRESS.value in c.tags for c in fallback)


async def test_an_address_literal_needs_no_dns_and_tcp_endpoints_no_handshake() -> None:
    target = Target(service="telegram", host="149.154.175.50", port=443, protocol="tcp", list_version="v")
    net = FakeNetwork(Script())
    measured = await measure(target, net, PLAN)
    assert not measured.observations.queries and not measured.observations.tls_handshakes
    assert [c.ip for c in measured.observations.tcp_connect] == ["149.154.175.50"] * PLAN.tries


async def test_controls_get_no_control_sni() -> None:
    control = Target(service="control", host="example.org", port=443, protocol="tls", list_version="v")
    net = FakeNetwork(Script(resolver={"example.org": ["198.51.100.1"]}))
    await measure(control, net, PLAN)
    assert all(sni == "example.org" for _, _, sni in tls_calls(net))
    assert len(tls_calls(net)) == PLAN.tries


async def test_names_on_one_address_connect_every_try_before_any_target_client_hello() -> None:
    """Issue 15: a penalty box after one name's trigger refuses new connections to the address, so every try of
    every name there is connected first; the control SNIs go before all of it."""
    jp = Target(service="line", host="legy-jp.line-apps.com", port=443, protocol="tls", list_version="v")
    shared = {"legy.line-apps.com": ["203.0.113.20"], "legy-jp.line-apps.com": ["203.0.113.20"]}
    net = FakeNetwork(Script(resolver=shared))
    measured = await measure_many((LEGY, jp), net, PLAN)
    order = [(kind, args) for kind, args in net.calls if kind in ("connect", "tls")]
    hellos = [i for i, (kind, args) in enumerate(order) if kind == "tls" and args[2] != "example.org"]  # type: ignore[index]
    controls = [i for i, (kind, args) in enumerate(order) if kind == "tls" and args[2] == "example.org"]  # type: ignore[index]
    connects = [i for i, (kind, _) in enumerate(order) if kind == "connect"]
    assert len(hellos) == 2 * PLAN.tries and len(controls) == 2
    assert max(controls) < min(hellos) and sorted(connects)[-1] < min(hellos)
    for m in measured:
        tries = [c for c in m.observations.tcp_connect if Tag.TARGET.value in c.tags]
        assert tries and all(Tag.SHARED_ADDRESS.value in c.tags for c in tries)


async def test_tries_that_all_fail_are_extended_only_on_a_lossy_path() -> None:
    script = Script(
        resolver={"legy.line-apps.com": ["203.0.113.20"]}, connect={"203.0.113.20": ["ok", *["timeout"] * 5]}
    )
    quiet = FakeNetwork(script)
    await measure(LEGY, quiet, PLAN)
    lossy = FakeNetwork(script)
    await measure(LEGY, lossy, dataclasses.replace(PLAN, extend_when_all_fail=True))
    count = [sum(1 for kind, args in n.calls if kind == "connect") for n in (quiet, lossy)]
    assert count == [1 + PLAN.tries + 1, 1 + PLAN.extended_tries + 1]  # control SNI, tries, the SNI after


# --- past the handshake (issue 16) -------------------------------------------------------------------------------

DC = Target(service="telegram", host="203.0.113.50", port=443, protocol="tcp", first_message="mtproto",
            list_version="v")  # fmt: skip
WEB = LEGY.model_copy(update={"transfer": "/", "ca": "signal"})


def transfer_plan(budget: int = 4 * 1024 * 1024) -> Plan:
    return dataclasses.replace(PLAN, transfer=TransferPlan(ByteBudget(budget), stall_window=1.0))


async def test_every_try_of_a_first_message_endpoint_sends_it_and_a_failed_exchange_is_a_failed_try() -> None:
    net = FakeNetwork(Script(app={"203.0.113.50": ["ok", "timeout", "ok", "ok", "ok"]}))
    measured = await measure(DC, net, PLAN)
    apps = measured.observations.app_exchanges
    assert [a.protocol for a in apps] == ["mtproto"] * PLAN.extended_tries  # the disagreement extended the tries
    assert {a.transaction_id for a in apps} == {c.transaction_id for c in measured.observations.tcp_connect}


async def test_transfers_run_in_pairs_at_the_first_handshaken_address_with_the_pinned_anchor() -> None:
    net = FakeNetwork(Script(resolver={"legy.line-apps.com": ["203.0.113.20", "203.0.113.21"]},
                             tls={("203.0.113.20", "legy.line-apps.com"): "reset"}))  # fmt: skip
    measured = await measure(WEB, net, transfer_plan())
    transfers = measured.observations.transfers
    assert [(t.address, t.server_name, t.no_tls_verify) for t in transfers] == [
        ("203.0.113.21:443", "legy.line-apps.com", False), ("203.0.113.21:443", "example.org", True),
    ] * 3  # fmt: skip
    target, control = transfers[0], transfers[1]
    assert control.transaction_id == target.transaction_id + 1
    assert Tag.TARGET.value in target.tags and Tag.CONTROL_SNI.value in control.tags


async def test_the_run_budget_caps_the_transfers_and_no_plan_means_none() -> None:
    script = Script(resolver={"legy.line-apps.com": ["203.0.113.20"]})
    plan = transfer_plan(budget=5 * 64 * 1024)  # two pairs fit, the third does not
    measured = await measure(WEB, FakeNetwork(script), plan)
    assert len(measured.observations.transfers) == 4
    assert plan.transfer is not None and plan.transfer.budget.left == 64 * 1024
    assert not (await measure(WEB, FakeNetwork(script), PLAN)).observations.transfers
    blocked = Script(resolver={"legy.line-apps.com": ["203.0.113.20"]}, tls={"203.0.113.20": "reset"})
    assert not (await measure(WEB, FakeNetwork(blocked), transfer_plan())).observations.transfers


def test_a_runs_outcome_prints_short_whatever_its_size() -> None:
    """asyncio.run puts its main task's repr, result included, into two error messages as it ends (its signal
    handling): a repr that grew with the run cost 1.2 s at a thousand endpoints."""
    measured = cast(tuple[Measured, ...], ("an endpoint's observations " * 400,) * 1000)
    outcome = RunOutcome(measured=measured, verdicts=(), services=(), vantage=cast(VantageFacts, None))
    assert repr(outcome) == "RunOutcome(1000 endpoints, result_file=None)"
