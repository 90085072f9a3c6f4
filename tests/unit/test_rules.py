"""Invariants of the rule table (ooni/data's test_rules.py does the same for its pipeline)."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import probe.analysis
from probe.analysis.rules import RULES
from probe.model import Confidence, Verdict
from tests.golden.scenarios import NAMES


def test_rule_ids_are_unique_and_dotted() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", i) for i in ids)


def test_every_rule_has_a_comment_and_contract_names() -> None:
    for rule in RULES:
        assert rule.comment.strip().endswith("."), rule.id
        assert isinstance(rule.verdict, Verdict) and isinstance(rule.confidence, Confidence)


def test_blocking_rules_are_named_after_their_verdict() -> None:
    for rule in RULES:
        if rule.verdict not in (Verdict.OK, Verdict.INCONCLUSIVE):
            assert rule.id.startswith(rule.verdict.value + "."), rule.id


def test_high_confidence_needs_a_positive_artefact() -> None:
    high = {r.id for r in RULES if r.confidence is Confidence.HIGH and r.verdict is not Verdict.OK}
    assert high == {
        "dns.injection.non_resolver", "dns.injection.two_answers", "dns.bogon.known_forged",
        "dns.mismatch.known_forged", "tls.mitm.forged_certificate", "tcp.reset.injected", "tls.reset.injected",
        "tls.closed.injected", "app.reset.injected",
    }  # fmt: skip


def test_order_offline_first_artefacts_before_contrast_ok_last() -> None:
    ids = [r.id for r in RULES]
    assert ids[0] == "vantage.offline"
    assert ids.index("dns.injection.two_answers") < ids.index("vantage.resolver_rewrites")
    assert ids.index("vantage.lost") < ids.index("tcp.timeout.controls_ok")
    assert ids[-2:] == ["ok", "nothing_to_judge"]


def test_analysis_imports_no_socket_no_scapy_no_clock() -> None:
    forbidden = {"socket", "scapy", "time", "asyncio", "ssl", "httpx", "datetime"}
    folder = Path(inspect.getfile(probe.analysis)).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


# Every rule id the dataset may hold (examples.md item 2). This list may only grow: an id is stable API, so a
# rule is never renamed or removed; a new rule adds its id here, in the same change.
PINNED_RULE_IDS = (
    "vantage.offline", "dns.injection.non_resolver", "dns.injection.two_answers", "vantage.captive_portal",
    "vantage.resolver_rewrites", "dns.nxdomain.everywhere", "dns.nxdomain.control_resolves",
    "dns.nxdomain.no_control", "dns.bogon.known_forged", "dns.bogon.control_differs", "dns.bogon.no_control",
    "dns.mismatch.known_forged", "dns.mismatch.tls_invalid", "dns.mismatch.unreachable", "vantage.overloaded",
    "dns.timeout.resolver_ok", "dns.resolver_broken", "dns.other_failure", "vantage.local_firewall",
    "vantage.no_route", "vantage.lost", "vantage.no_tls", "tcp.timeout.controls_ok", "tcp.timeout.no_control",
    "tcp.reset.injected", "tcp.reset.controls_ok", "tcp.reset.no_control", "tls.mitm.forged_certificate",
    "tls.mitm.invalid_certificate", "tls.expired", "tls.reset.injected", "tls.reset.sni", "tls.reset.any_sni",
    "tls.timeout.sni", "tls.timeout.any_sni", "tls.closed.injected", "tls.closed.sni", "tls.closed.any_sni",
    "tls.unexpected", "ok", "nothing_to_judge",
    # issue 15
    "dns.nodata.everywhere", "dns.nodata.control_resolves", "dns.nodata.no_control", "dns.bogon.unjudged",
    "vantage.restricted", "vantage.lossy_dns", "vantage.lossy", "tcp.reset.icmp", "tcp.reset.server_unseen",
    # issue 17: the control vantage
    "helper.dns_down_too", "dns.nxdomain.helper_resolves", "dns.nodata.helper_resolves", "helper.down_too",
    "helper.same_certificate",
    # issue 16
    "app.reset.injected", "app.reset.controls_ok", "app.reset.no_control", "app.timeout.controls_ok",
    "app.timeout.no_control", "app.closed.controls_ok", "app.closed.no_control", "app.unexpected",
    "vantage.lossy_transfer", "tls.stall.control_completes", "transfer.stall_any_sni", "tls.throttled.control_faster",
    # issue 15: one address family judged alone
    "vantage.no_family",
)  # fmt: skip


def test_rule_ids_only_grow() -> None:
    """No pinned id disappears, and every rule's id is pinned (add new ones to PINNED_RULE_IDS)."""
    ids = {r.id for r in RULES}
    assert set(PINNED_RULE_IDS) - ids == set(), "a rule id was removed or renamed: ids are stable API"
    assert ids - set(PINNED_RULE_IDS) == set(), "pin the new rule ids in PINNED_RULE_IDS"


def test_every_rule_fires_in_a_golden_scenario_that_checks_its_id() -> None:
    """Each rule decides at least one endpoint of tests/golden, and every golden expectation names its rule."""
    golden = Path(__file__).parent.parent / "golden"
    checked: set[str] = set()
    for name in NAMES:
        expected = json.loads((golden / name / "expected.json").read_text())["expected"]
        for endpoint, want in expected.items():
            assert want.get("rule_id"), f"{name}: {endpoint} names no rule_id"
            checked.add(want["rule_id"])
            checked |= {f["rule_id"] for f in want.get("families", {}).values()}
    assert {r.id for r in RULES} - checked == set(), "rules no golden scenario fires"
