"""The capture socket's kernel filter (probe/net/bpf.py), run here by a small classic-BPF interpreter over packets
built by hand: what passes, what is cut, what never reaches Python. tests/lab runs it in the kernel."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from probe.net import bpf

PROBE4, SERVER4, OTHER4 = "198.51.100.7", "203.0.113.10", "203.0.113.99"
PROBE6, SERVER6, OTHER6 = "2001:db8:0:1::2", "2001:db8:113::10", "2001:db8:113::99"


def run(program: bytes, ethertype: int, packet: bytes) -> int:
    """How many bytes of the frame the kernel would pass (0: dropped). Loads are from the network header
    (SKF_NET_OFF), as the program makes them; the link header is not there."""
    code = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    a = x = 0
    memory = [0] * 16
    pc = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        signed = k - (1 << 32) if k & 0x80000000 else k
        if op in (0x20, 0x28, 0x30, 0x50):  # ld W/H/B abs, ld B ind
            if signed == -0x1000:
                a = ethertype
                continue
            offset = signed + 0x100000 + (x if op == 0x50 else 0)
            size = {0x20: 4, 0x28: 2, 0x30: 1, 0x50: 1}[op]
            if offset + size > len(packet):
                return 0  # the kernel ends the program on a load past the end
            a = int.from_bytes(packet[offset : offset + size], "big")
        elif op == 0x61:
            x = memory[k]
        elif op == 0x02:
            memory[k] = a
        elif op == 0x54:
            a &= k
        elif op == 0x64:
            a = (a << k) & 0xFFFFFFFF
        elif op == 0x74:
            a >>= k
        elif op == 0x0C:
            a = (a + x) & 0xFFFFFFFF
        elif op == 0x1C:
            a = (a - x) & 0xFFFFFFFF
        elif op == 0x07:
            x = a
        elif op == 0x05:
            pc += k
        elif op in (0x15, 0x45):
            holds = a == k if op == 0x15 else bool(a & k)
            pc += jt if holds else jf
        elif op == 0x06:
            return int(k)
        else:
            raise AssertionError(f"unknown opcode {op:#x}")


def tcp(src: str, dst: str, flags: str, payload: int = 0) -> tuple[int, bytes]:
    bits = sum(1 << "FSRPA".index(f) for f in flags)
    header = struct.pack("!HHIIBBHHH", 50000, 443, 1, 1, 5 << 4, bits, 64240, 0, 0)
    return _ip(src, dst, 6, header + bytes(payload))


def udp(src: str, dst: str, payload: int) -> tuple[int, bytes]:
    return _ip(src, dst, 17, struct.pack("!HHHH", 53, 50001, 8 + payload, 0) + bytes(payload))


def _ip(src: str, dst: str, proto: int, body: bytes) -> tuple[int, bytes]:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 52, proto, 0, s.packed, d.packed)
        return 0x0800, header + body
    return 0x86DD, struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 52, s.packed, d.packed) + body


WATCHED = [ipaddress.ip_address(a).packed for a in (SERVER4, SERVER6)]


@pytest.mark.parametrize(("probe", "server", "other"), [(PROBE4, SERVER4, OTHER4), (PROBE6, SERVER6, OTHER6)])
def test_only_evidence_of_watched_flows_passes(probe: str, server: str, other: str) -> None:
    program = bpf.program(WATCHED)
    assert run(program, *tcp(probe, server, "S")) == bpf.TCP_SNAP
    assert run(program, *tcp(server, probe, "SA")) == bpf.TCP_SNAP
    assert run(program, *tcp(server, probe, "RA")) == bpf.TCP_SNAP
    assert run(program, *tcp(probe, server, "FA")) == bpf.TCP_SNAP
    assert run(program, *tcp(probe, server, "PA", payload=517)) == bpf.TCP_SNAP, "a ClientHello, cut after headers"
    assert run(program, *tcp(server, probe, "A")) == 0, "a bare ACK is no evidence"
    assert run(program, *tcp(probe, server, "A")) == 0
    assert run(program, *udp(server, probe, 300)) == bpf.WHOLE, "a DNS answer comes whole"
    assert run(program, *tcp(probe, other, "S")) == 0, "another address's flow stays in the kernel"
    assert run(program, *tcp(other, probe, "SA")) == 0
    assert run(program, *udp(other, probe, 300)) == 0


def test_nothing_passes_before_an_address_is_watched() -> None:
    assert run(bpf.accept_nothing(), *tcp(PROBE4, SERVER4, "S")) == 0
    assert run(bpf.program([]), *tcp(PROBE4, SERVER4, "S")) == 0
    assert run(bpf.program([]), 0x0806, bytes(28)) == 0  # ARP


def test_too_many_addresses_leave_the_address_check_to_python() -> None:
    """Over the kernel's 4,096 instructions, every address passes (the capture process checks), and the rest of
    the filter stays: bare ACKs still never reach Python."""
    many = [ipaddress.ip_address(0x20010DB8 << 96 | i).packed for i in range(300)]
    program = bpf.program([*WATCHED, *many])
    assert len(program) // 8 <= bpf.MAX_INSTRUCTIONS
    assert run(program, *tcp(PROBE4, OTHER4, "S")) == bpf.TCP_SNAP
    assert run(program, *tcp(OTHER4, PROBE4, "A")) == 0
    fits = bpf.program([*WATCHED, *many[:100]])
    assert run(fits, *tcp(PROBE6, OTHER6, "S")) == 0
    assert run(fits, *tcp(PROBE6, str(ipaddress.ip_address(many[99])), "S")) == bpf.TCP_SNAP
