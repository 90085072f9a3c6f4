"""The kernel filter of the capture socket: a classic BPF program (linux/filter.h) that lets through only the
packets the analysis can use, so that everything else stays in the kernel instead of waking the capture process.

It passes TCP and UDP over IPv4 and IPv6 to or from a watched address (the addresses the probe is about to
contact), and of TCP only what can be evidence: segments with SYN, RST or FIN, and segments that carry data (a
ClientHello, a ServerHello, a reply after a RST); the bare ACKs, about half of a handshake's packets, never reach
Python. TCP is cut after its headers (the payload is never kept anyway); UDP (DNS answers) comes whole. Offsets are
taken from the network header (`SKF_NET_OFF`), so the program works on any link type: Ethernet, loopback, a VPN's
tun device without a link header.

Pure: addresses in, program bytes out. The capture process attaches it again whenever the watched set grows. A
program has at most 4,096 instructions (BPF_MAXINSNS); with more watched addresses than fit, the addresses are left
to the capture process to check (the rest of the filter stays).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

MAX_INSTRUCTIONS = 4096  # BPF_MAXINSNS (include/uapi/linux/bpf_common.h)
TCP_SNAP = 192  # bytes kept of a TCP packet: any link header, IPv4 (60) or IPv6 (40) header, TCP header (60)
WHOLE = 0x40000  # "keep it all"

# Opcodes (include/uapi/linux/bpf_common.h, filter.h)
_LD_W_ABS, _LD_H_ABS, _LD_B_ABS, _LD_B_IND = 0x20, 0x28, 0x30, 0x50
_LDX_MEM, _ST = 0x61, 0x02
_ALU_AND_K, _ALU_LSH_K, _ALU_RSH_K, _ALU_ADD_X, _ALU_SUB_X = 0x54, 0x64, 0x74, 0x0C, 0x1C
_TAX = 0x07
_JA, _JEQ_K, _JSET_K = 0x05, 0x15, 0x45
_RET_K = 0x06
_NET = -0x100000  # SKF_NET_OFF: offsets from the network header
_PROTOCOL = -0x1000  # SKF_AD_OFF + SKF_AD_PROTOCOL: the frame's ethertype
_ETH_P_IP, _ETH_P_IPV6 = 0x0800, 0x86DD
_TCP, _UDP = 6, 17
_SYN_RST_FIN = 0x07


def program(addresses: Iterable[bytes]) -> bytes:
    """The filter for these watched addresses (packed, 4 or 16 bytes), as `struct sock_filter` entries."""
    addresses = sorted(set(addresses))
    v4 = [a for a in addresses if len(a) == 4]
    v6 = [a for a in addresses if len(a) == 16]
    code = _filter(v4, v6)
    if len(code.lines) > MAX_INSTRUCTIONS:
        code = _filter(None, None)
    return code.encode()


def any_address() -> bytes:
    """The filter that leaves the addresses to the capture process: what `program` gives for too many."""
    return _filter(None, None).encode()


def accept_nothing() -> bytes:
    """The filter before any address is watched."""
    code = _Assembler()
    code.put(_RET_K, 0)
    return code.encode()


class _Assembler:
    """Instructions with named jump targets, resolved by `encode`. A conditional jump reaches at most 255
    instructions ahead, so `branch` goes through unconditional jumps (32-bit offsets) to reach any label."""

    def __init__(self) -> None:
        # (label, (code, true target, false target, k)); a target None is the next instruction
        self.lines: list[tuple[str | None, tuple[int, str | None, str | None, int]]] = []
        self._made = 0

    def put(
        self, code: int, k: int = 0, jt: str | None = None, jf: str | None = None, label: str | None = None
    ) -> None:
        self.lines.append((label, (code, jt, jf, k)))

    def branch(self, code: int, k: int, yes: str | None, no: str | None) -> None:
        """`code` with `k` (a JEQ or JSET): on to `yes` when it holds, else to `no` (None: the next instruction)."""
        self._made += 1
        after = f"branch{self._made}"
        if yes is None:
            self.put(code, k, jt=after)
            self.put(_JA, jt=no)
        elif no is None:
            self.put(code, k, jf=after)
            self.put(_JA, jt=yes)
        else:
            self.put(code, k, jf=after)
            self.put(_JA, jt=yes)
            self.put(_JA, jt=no, label=after)
            return
        self.put(_JA, label=after)

    def encode(self) -> bytes:
        """`struct sock_filter` entries: a conditional's jt and jf count instructions after the next one (0-255);
        a `ja` takes a 32-bit offset."""
        where = {label: i for i, (label, _) in enumerate(self.lines) if label is not None}
        out = []
        for i, (_, (code, jt, jf, k)) in enumerate(self.lines):
            t, f = (0 if target is None else where[target] - i - 1 for target in (jt, jf))
            if code == _JA:
                out.append(struct.pack("=HBBI", code, 0, 0, t))
                continue
            if not (0 <= t <= 255 and 0 <= f <= 255):
                raise ValueError(f"jump too far at instruction {i}: {t}, {f}")
            out.append(struct.pack("=HBBI", code, t, f, k & 0xFFFFFFFF))
        return b"".join(out)


def _filter(v4: Sequence[bytes] | None, v6: Sequence[bytes] | None) -> _Assembler:
    """The program; `None` for the addresses: pass every address (the capture process checks them)."""
    code = _Assembler()
    put, branch = code.put, code.branch
    put(_LD_W_ABS, _PROTOCOL)
    branch(_JEQ_K, _ETH_P_IPV6, "ipv6", None)
    branch(_JEQ_K, _ETH_P_IP, None, "drop")
    if v4 is not None:
        _match(code, v4, (12, 16))
    put(_LD_B_ABS, _NET + 9)  # IPv4 protocol
    branch(_JEQ_K, _UDP, "udp", None)
    branch(_JEQ_K, _TCP, None, "drop")
    put(_LD_B_ABS, _NET + 0)  # X = the IPv4 header's length
    put(_ALU_AND_K, 0x0F)
    put(_ALU_LSH_K, 2)
    put(_TAX)
    put(_LD_B_IND, _NET + 13)  # TCP flags
    branch(_JSET_K, _SYN_RST_FIN, "tcp", None)
    put(_LD_B_IND, _NET + 12)  # the TCP header's length
    put(_ALU_RSH_K, 4)
    put(_ALU_LSH_K, 2)
    put(_ALU_ADD_X)
    put(_ST, 0)  # M[0] = both headers
    put(_LD_H_ABS, _NET + 2)  # IPv4 total length
    put(_LDX_MEM, 0)
    put(_ALU_SUB_X)  # the payload's length: a bare ACK has none
    branch(_JEQ_K, 0, "drop", "tcp")
    put(_JA, label="ipv6")  # a jump to the next instruction: a place for the label
    if v6 is not None:
        _match(code, v6, (8, 24))
    put(_LD_B_ABS, _NET + 6)  # next header (the probe sends no extension headers)
    branch(_JEQ_K, _UDP, "udp", None)
    branch(_JEQ_K, _TCP, None, "drop")
    put(_LD_B_ABS, _NET + 40 + 13)  # TCP flags
    branch(_JSET_K, _SYN_RST_FIN, "tcp", None)
    put(_LD_B_ABS, _NET + 40 + 12)  # the TCP header's length
    put(_ALU_RSH_K, 4)
    put(_ALU_LSH_K, 2)
    put(_TAX)
    put(_LD_H_ABS, _NET + 4)  # IPv6 payload length: the TCP header and data
    put(_ALU_SUB_X)
    branch(_JEQ_K, 0, "drop", "tcp")
    put(_RET_K, TCP_SNAP, label="tcp")
    put(_RET_K, WHOLE, label="udp")
    put(_RET_K, 0, label="drop")
    return code


def _match(code: _Assembler, addresses: Sequence[bytes], offsets: tuple[int, int]) -> None:
    """On when the source or the destination address (at `offsets` from the network header) is one of
    `addresses`; else drop. One 32-bit word at a time: an IPv6 address takes four."""
    words = [struct.unpack(f"!{len(a) // 4}I", a) for a in addresses]
    end = f"matched{len(code.lines)}"
    for offset in offsets:
        for i, address in enumerate(words):
            miss = f"{end}:{offset}:{i}"
            for w, word in enumerate(address):
                code.put(_LD_W_ABS, _NET + offset + 4 * w)
                code.put(_JEQ_K, word, jf=miss)
            code.put(_JA, jt=end)
            code.put(_JA, label=miss)
    code.put(_JA, jt="drop")
    code.put(_JA, label=end)
