"""Invariants of the rule table (ooni/data's test_rules.py does the same for its pipeline)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import probe.analysis
from probe.analysis.rules import RULES
from probe.model import Confidence, Verdict


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
        "tls.closed.injected",
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
