"""Facts the rules lean on, checked on their own: certificate names, loss arithmetic, what packets may claim."""

from __future__ import annotations

from pathlib import Path

from probe import analysis, jsonlines, report
from probe.analysis.bogons import is_impossible
from probe.analysis.facts import Certificate, binomial_tail

GOLDEN = Path(__file__).parent.parent / "golden"


def test_a_certificate_names_the_target_in_any_position_exactly_or_by_wildcard() -> None:
    cert = Certificate(names=("line.me", "*.line.me", "obs.line-apps.com", "legy.line-apps.com"), issuer="CN=x")
    assert cert.covers("legy.line-apps.com") and cert.covers("LEGY.line-apps.com.")
    assert cert.covers("access.line.me") and not cert.covers("a.b.line.me") and not cert.covers("line-apps.com")
    assert not Certificate(names=("*.example",), issuer="CN=x").covers("legy.line-apps.com")
    assert "and 1 more" in cert.summary


def test_the_binomial_tail() -> None:
    assert abs(binomial_tail(0, 5, 0.3) - 1.0) < 1e-12
    assert abs(binomial_tail(5, 5, 0.5) - 1 / 32) < 1e-12
    assert binomial_tail(12, 12, 0.37) < 1e-5 < binomial_tail(9, 12, 0.37)


def test_impossible_answers_are_never_a_servers_but_lab_ranges_can_be() -> None:
    assert all(is_impossible(ip) for ip in ("127.0.0.1", "0.0.0.0", "::1", "169.254.1.1", "224.0.0.1"))
    assert not any(is_impossible(ip) for ip in ("203.0.113.10", "10.10.34.35", "198.18.0.1", "2001:db8::1"))


def test_a_server_never_seen_gets_no_claim_about_its_ttl() -> None:
    """Issue 15: the server's own RSTs (it is down) must not be described as having "the server's TTL"."""
    lines = list(jsonlines.decode_lines((GOLDEN / "tcp_rst_server_down" / "measurements.jsonl").read_bytes()))
    measured = [report.measured_from_line(line) for line in lines]
    vantage = analysis.assess([m for m in measured if m.target.is_control])
    booking = next(m for m in measured if m.target.host == "booking-loco.kakao.com")
    evidence = " ".join(analysis.classify(booking, vantage).evidence)
    assert "server's own IP TTL" not in evidence and "no packet of the server itself" in evidence
