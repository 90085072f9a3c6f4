"""The injectors' kernel (BPF) filters, checked without root: libpcap compiles each sniffer's filter, as the
injector does, and runs it on crafted frames. A filter that lets other names through puts the injector back to
dissecting every query in Python (it fell seconds behind under load); one that misses a censored name leaves the
name uncensored."""

from __future__ import annotations

import ctypes

import dns.message
import dns.rrset
import pytest

from probe.net.dns import make_query
from tests.lab import plan as addr
from tests.lab.injectors import Sniffer, dns_injector, servfail_rewriter

CENSORED = ["ticket-loco.kakao.com", "gw.talk.kakao.com"]
OTHERS = [
    "obs.line-scdn.net",  # another service
    "kakao.com",  # a parent of a censored name
    "x.gw.talk.kakao.com",  # a child of one
    "ticket-loco.kakao.com.example",  # a longer name that starts the same
    "ticket-loco.kakao.co",  # a shorter one
]


def _passes(expression: str, frame: bytes) -> bool:
    from scapy.arch.common import compile_filter
    from scapy.libs import winpcapy

    program = compile_filter(expression, linktype=1)  # Ethernet, as on the censor's veth links
    header = winpcapy.pcap_pkthdr()
    header.caplen = header.len = len(frame)
    return bool(winpcapy._lib.pcap_offline_filter(ctypes.byref(program), ctypes.byref(header), frame))


def _query(name: str, query_type: str = "A", to: str = addr.SYSTEM_RESOLVER) -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    wire = make_query(name, query_type).wire  # the probe's own query (EDNS included)
    return bytes(Ether() / IP(src=addr.CLIENT, dst=to) / UDP(sport=40000, dport=53) / wire)


def _response(name: str) -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    query = make_query(name, "A").message()
    answer = dns.message.make_response(query)
    answer.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "203.0.113.9"))
    return bytes(
        Ether() / IP(src=addr.SYSTEM_RESOLVER, dst=addr.CLIENT) / UDP(sport=53, dport=40000) / answer.to_wire()
    )


def _filters(sniffers: list[Sniffer]) -> list[str]:
    return [bpf for _, bpf, _ in sniffers]


def test_dns_injector_sees_only_the_censored_names() -> None:
    queries, responses = _filters(
        dns_injector(lambda _: None, "toclient", "toserver", addr.SYSTEM_RESOLVER, [(addr.SINKHOLE, 0)], 0.08, CENSORED)
    )
    for name in CENSORED:
        for query_type in ("A", "AAAA"):
            assert _passes(queries, _query(name, query_type)), (name, query_type)
        assert _passes(queries, _query(name, to=addr.SINKHOLE)), "a query to any address meets the injector"
        assert _passes(responses, _response(name)), name
        assert not _passes(responses, _query(name)), "a query is no response"
        assert not _passes(queries, _response(name)), "a response is no query"
    for name in OTHERS:
        assert not _passes(queries, _query(name)), name
        assert not _passes(responses, _response(name)), name


@pytest.mark.parametrize("name", OTHERS)
def test_servfail_rewriter_sees_only_the_censored_names(name: str) -> None:
    (responses,) = _filters(servfail_rewriter(lambda _: None, "toserver", addr.SYSTEM_RESOLVER, CENSORED))
    assert all(_passes(responses, _response(n)) for n in CENSORED)
    assert not _passes(responses, _response(name))
