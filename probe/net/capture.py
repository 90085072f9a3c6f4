"""Packet evidence: the headers of the probe's own flows, to tell an injected packet from a genuine one.

An on-path injector can forge a packet's addresses and ports but rarely its distance: its RST or DNS answer arrives
with another IP TTL (or IP-ID pattern, or TCP window) than the server's own SYN-ACK, sometimes in a burst, and
sometimes the genuine ServerHello still arrives after it (Weaver, Sommer & Paxson, NDSS 2009; Clayton et al.,
PET 2006). This module keeps, per flow, a summary of each packet: TTL, IP-ID, flags, window, timing, DNS answers.

Only flows the probe itself opened are kept: packets must involve an address the probe is about to contact, and
are then matched on the probe's own local port. No payload is kept, and the probe's own address is never recorded.
Needs root or CAP_NET_RAW and scapy (the `capture` extra); anything that goes wrong turns capture off, never
breaks a run.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from probe.model import PacketSummary
from probe.net.clock import Clock


@dataclass(frozen=True)
class _Seen:
    at: float  # epoch seconds, from the kernel timestamp
    src: str
    sport: int
    dst: str
    dport: int
    proto: str
    ttl: int | None
    ip_id: int | None
    flags: str | None
    window: int | None
    seq: int | None
    ack: int | None
    payload_len: int
    dns_id: int | None
    dns_answers: tuple[str, ...] | None


def unavailable_reason() -> str | None:
    """Why capture cannot run here, or None when it can."""
    try:
        import scapy  # noqa: F401
    except ImportError:
        return "scapy is not installed (pip install 'probe[capture]')"
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except PermissionError:
        return "needs root or CAP_NET_RAW"
    except (OSError, AttributeError) as exc:
        return f"raw sockets unavailable ({exc.__class__.__name__})"
    raw.close()
    return None


class Capture:
    """A sniffer over every interface for the length of a run."""

    def __init__(self) -> None:
        self._remotes: set[str] = set()
        self._seen: list[_Seen] = []
        self._lock = threading.Lock()
        self._sniffer: Any = None
        self.error: str | None = None

    def start(self) -> None:
        import logging

        logging.getLogger("scapy").setLevel(logging.ERROR)  # its warnings would reach cron mail
        # The link and network layers must be loaded before sniffing, or scapy cannot dissect what it reads.
        import scapy.layers.dns
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2  # noqa: F401
        from scapy.interfaces import get_if_list
        from scapy.sendrecv import AsyncSniffer

        self._sniffer = AsyncSniffer(iface=get_if_list(), store=False, prn=self._on_packet)
        self._sniffer.start()
        # AsyncSniffer opens its sockets in its thread; wait until it listens, so the first SYN is not missed.
        deadline = time.monotonic() + 2.0
        while not getattr(self._sniffer, "running", False) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)

    def stop(self) -> None:
        if self._sniffer is not None:
            try:
                self._sniffer.stop()
            except Exception as exc:  # a sniffer that died early has nothing left to stop
                self.error = self.error or f"{exc.__class__.__name__}"
            self._sniffer = None

    def watch(self, address: str) -> None:
        """Keep packets to and from `address` from now on (call it before contacting it)."""
        with self._lock:
            self._remotes.add(address)

    def flow(
        self,
        proto: str,
        local_port: int,
        remote: str,
        remote_port: int,
        *,
        clock: Clock,
        transaction_id: int,
        label: str | None = None,
    ) -> tuple[PacketSummary, ...]:
        """The summaries of one flow's packets so far, timed on the measurement's clock. `label` replaces the
        far end's address in the summaries (the system resolver's address is private: it may name a LAN box)."""
        offset = time.time() - clock()  # epoch time of the measurement's zero
        with self._lock:
            seen = [
                s
                for s in self._seen
                if s.proto == proto
                and ((s.src == remote and s.sport == remote_port and s.dport == local_port)
                     or (s.dst == remote and s.dport == remote_port and s.sport == local_port))
            ]  # fmt: skip
        return tuple(
            PacketSummary(
                t=round(s.at - offset, 6),
                direction="in" if s.src == remote else "out",
                proto=proto,
                remote=label or (f"[{remote}]:{remote_port}" if ":" in remote else f"{remote}:{remote_port}"),
                ttl=s.ttl,
                ip_id=s.ip_id,
                flags=s.flags,
                window=s.window,
                seq=s.seq,
                ack=s.ack,
                payload_len=s.payload_len,
                dns_id=s.dns_id,
                dns_answers=s.dns_answers,
                transaction_id=transaction_id,
            )
            for s in seen
        )

    def _on_packet(self, packet: Any) -> None:
        try:
            seen = _summarise(packet, self._remotes)
        except Exception:  # a malformed packet is not evidence of anything
            return
        if seen is not None:
            with self._lock:
                self._seen.append(seen)


def _summarise(packet: Any, remotes: set[str]) -> _Seen | None:
    from scapy.layers.dns import DNS
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6

    layer = packet.getlayer(IP) or packet.getlayer(IPv6)
    if layer is None or (layer.src not in remotes and layer.dst not in remotes):
        return None
    v4 = layer.version == 4
    ttl, ip_id = (layer.ttl, layer.id) if v4 else (layer.hlim, None)
    tcp, udp = packet.getlayer(TCP), packet.getlayer(UDP)
    if tcp is not None:
        payload = len(bytes(tcp.payload))
        return _Seen(float(packet.time), layer.src, tcp.sport, layer.dst, tcp.dport, "tcp", ttl, ip_id,
                     str(tcp.flags), tcp.window, tcp.seq, tcp.ack, payload, None, None)  # fmt: skip
    if udp is not None:
        dns = packet.getlayer(DNS)
        answers = None
        dns_id = None
        if dns is not None:
            dns_id = dns.id
            if dns.qr == 1:
                answers = tuple(str(rr.rdata) for rr in (dns.an or [])[:8] if rr.type in (1, 28))
        return _Seen(float(packet.time), layer.src, udp.sport, layer.dst, udp.dport, "udp", ttl, ip_id, None,
                     None, None, None, len(bytes(udp.payload)), dns_id, answers)  # fmt: skip
    return None
