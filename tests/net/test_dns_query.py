"""The hand-made query (probe.net.dns.Query) against dnspython's own: the same bytes, the same idea of an answer."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from probe.net.dns import EDNS_PAYLOAD, make_query


@pytest.mark.parametrize(
    ("name", "query_type"),
    [("talk.kakao.com", "A"), ("talk.kakao.com.", "AAAA"), ("Line.ME", "A"), ("bücher.example", "AAAA")],
)
def test_the_wire_is_dnspythons_for_the_same_id(name: str, query_type: str) -> None:
    theirs = dns.message.make_query(name, query_type, use_edns=0, payload=EDNS_PAYLOAD)
    theirs.id = 4242
    assert make_query(name, query_type, query_id=4242).wire == theirs.to_wire()
    assert make_query(name, query_type, query_id=4242).message().to_wire() == theirs.to_wire()


def test_a_fresh_id_changes_only_the_id() -> None:
    query = make_query("talk.kakao.com", "A", query_id=1)
    again = query.with_id(0xBEEF)
    assert again.id == 0xBEEF and again.wire[2:] == query.wire[2:]


def _responses(query: dns.message.Message) -> list[dns.message.Message]:
    """Answers and near-answers to `query`: each differs from a genuine response in one thing a check must see."""
    genuine = dns.message.make_response(query)
    genuine.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "203.0.113.9"))
    out = [genuine]
    for change in ("id", "qr", "opcode", "name", "case", "type", "class", "extra_question"):
        r = dns.message.from_wire(genuine.to_wire())
        if change == "id":
            r.id ^= 1
        elif change == "qr":
            r.flags &= ~dns.flags.QR
        elif change == "opcode":
            r.set_opcode(dns.opcode.NOTIFY)
        elif change in ("name", "case", "type", "class"):
            q = r.question[0]
            name = {"name": "other.example.", "case": q.name.to_text().upper()}.get(change, q.name)
            rdclass = dns.rdataclass.CH if change == "class" else q.rdclass
            rdtype = dns.rdatatype.AAAA if change == "type" else q.rdtype
            r.question = [dns.rrset.RRset(dns.name.from_text(str(name)), rdclass, rdtype)]
        else:
            r.question.append(dns.rrset.RRset(dns.name.from_text("other.example."), dns.rdataclass.IN, dns.rdatatype.A))
        out.append(r)
    for rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        r = dns.message.make_response(query)
        r.set_rcode(rcode)
        r.question = []  # a server that could not read the question may leave it out
        out.append(r)
    return out


def test_what_answers_a_query_is_what_dnspython_says() -> None:
    query = make_query("talk.kakao.com", "A")
    theirs = query.message()
    verdicts = [(query.answered_by(r), theirs.is_response(r)) for r in _responses(theirs)]
    assert verdicts == [(b, b) for _, b in verdicts]
    # and the checks are not vacuous: the genuine answer, a name in other case and a question-less refusal pass
    assert [mine for mine, _ in verdicts] == [True] + [False] * 4 + [True] + [False] * 3 + [True, True, False, False]
