"""Reading captured frames: the hand-written header parser against frames that scapy builds (a second, independent
implementation of the same RFCs)."""

from __future__ import annotations

import ipaddress

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from probe.net.packets import read_frame

SERVER = "203.0.113.10"
WATCHED = {ipaddress.ip_address(SERVER).packed, ipaddress.ip_address("2001:db8::10").packed}


def frame(packet: object) -> bytes:
    return bytes(Ether() / packet)


def test_an_injected_rst_keeps_ttl_ip_id_flags_window() -> None:
    raw = frame(IP(src=SERVER, dst="198.51.100.2", ttl=61, id=4242) / TCP(sport=443, dport=50000, flags="RA",
                                                                         window=1980, seq=7, ack=9))  # fmt: skip
    seen = read_frame(raw, 1, 12.5, WATCHED)
    assert seen is not None
    assert (seen.src, seen.sport, seen.dst, seen.dport, seen.proto) == (SERVER, 443, "198.51.100.2", 50000, "tcp")
    assert (seen.ttl, seen.ip_id, seen.window, seen.seq, seen.ack, seen.at) == (61, 4242, 1980, 7, 9, 12.5)
    assert set(seen.flags or "") == {"R", "A"} and seen.payload_len == 0


def test_payload_length_comes_from_the_headers() -> None:
    raw = frame(IP(src="198.51.100.2", dst=SERVER) / TCP(sport=50000, dport=443, flags="PA") / (b"\x16" * 517))
    seen = read_frame(raw, 1, 0.0, WATCHED)
    assert seen is not None and seen.payload_len == 517 and set(seen.flags or "") == {"P", "A"}


def test_ipv6_and_the_loopback_link_type() -> None:
    raw = frame(IPv6(src="2001:db8::10", dst="2001:db8::2", hlim=55) / TCP(sport=443, dport=40000, flags="SA"))
    seen = read_frame(raw, 772, 0.0, WATCHED)
    assert seen is not None and seen.ttl == 55 and seen.ip_id is None and set(seen.flags or "") == {"S", "A"}


def test_a_raw_ip_link_has_no_ethernet_header() -> None:
    raw = bytes(IP(src=SERVER, dst="198.51.100.2") / TCP(flags="F"))
    seen = read_frame(raw, 65534, 0.0, WATCHED)
    assert seen is not None and seen.flags == "F"


def test_dns_answers_are_read_from_a_response() -> None:
    answer = DNS(id=77, qr=1, qd=DNSQR(qname="talk.kakao.com"),
                 an=DNSRR(rrname="talk.kakao.com", type="A", rdata="10.10.34.35"))  # fmt: skip
    raw = frame(IP(src=SERVER, dst="198.51.100.2", ttl=63) / UDP(sport=53, dport=40001) / answer)
    seen = read_frame(raw, 1, 0.0, WATCHED)
    assert seen is not None and seen.proto == "udp"
    assert (seen.dns_id, seen.dns_answers, seen.ttl) == (77, ("10.10.34.35",), 63)


def test_a_dns_query_has_an_id_and_no_answers() -> None:
    raw = frame(IP(src="198.51.100.2", dst=SERVER) / UDP(sport=40001, dport=53) / DNS(id=5, qd=DNSQR(qname="x.y")))
    seen = read_frame(raw, 1, 0.0, WATCHED)
    assert seen is not None and seen.dns_id == 5 and seen.dns_answers is None


def test_other_peoples_traffic_is_not_read() -> None:
    raw = frame(IP(src="192.0.2.99", dst="192.0.2.98") / TCP(sport=1, dport=2, flags="S"))
    assert read_frame(raw, 1, 0.0, WATCHED) is None


def test_short_and_foreign_frames_are_ignored() -> None:
    assert read_frame(b"\x00" * 10, 1, 0.0, WATCHED) is None
    icmp = frame(IP(src=SERVER, dst="198.51.100.2", proto=1) / (b"\x08\x00" * 10))
    assert read_frame(icmp, 1, 0.0, WATCHED) is None
