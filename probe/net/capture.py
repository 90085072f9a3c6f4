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

import contextlib
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
    """A sniffer over every interface for the length of a run, in a process of its own.

    A sniffer thread inside the probe would share the interpreter lock with the event loop: decoding every
    packet in Python delayed the probe's own timestamps by up to 0.6 s under load, and timing is evidence here.
    The parent asks the child, over a pipe, to watch an address (before contacting it) and for a flow's packets.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request and its answer at a time on the pipe
        self._conn: Any = None
        self._process: Any = None
        self._watched: set[str] = set()
        self.error: str | None = None

    def start(self, timeout: float = 15.0) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # never fork a process that runs an event loop
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="probe-capture", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(timeout):
            self.stop()
            raise TimeoutError("the capture process did not start")
        ready = self._conn.recv()
        if ready != ("ready",):
            self.stop()
            raise RuntimeError(f"the capture process failed: {ready[1] if len(ready) > 1 else ready}")

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                self._conn.send(("stop",))
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(3)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(1)
            self._process = None

    def watch(self, address: str) -> None:
        """Keep packets to and from `address` from now on. Returns once the sniffer knows, so call it before
        contacting the address and the first SYN is kept."""
        if address in self._watched or self._conn is None:
            return
        self._ask(("watch", address))
        self._watched.add(address)

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
        if self._conn is None:
            return ()
        offset = time.time() - clock()  # epoch time of the measurement's zero
        seen: list[_Seen] = self._ask(("flow", proto, local_port, remote, remote_port)) or []
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

    def _ask(self, message: tuple[Any, ...]) -> Any:
        """Send one request and wait (briefly) for its answer; a dead capture answers nothing, once."""
        with self._lock:
            try:
                self._conn.send(message)
                if self._conn.poll(5.0):
                    return self._conn.recv()
                self.error = self.error or "the capture process stopped answering"
            except (OSError, EOFError, ValueError) as exc:
                self.error = self.error or f"the capture process is gone ({exc.__class__.__name__})"
            self._conn.close()
            self._conn = None
            return None


def _serve(conn: Any) -> None:
    """The capture process: sniff, keep the watched addresses' packets, answer the parent's requests."""
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us in order
    logging.getLogger("scapy").setLevel(logging.ERROR)  # its warnings would reach cron mail
    remotes: set[str] = set()
    seen: list[_Seen] = []
    lock = threading.Lock()

    def keep(packet: Any) -> None:
        try:
            summary = _summarise(packet, remotes)
        except Exception:  # a malformed packet is not evidence of anything
            return
        if summary is not None:
            with lock:
                seen.append(summary)

    try:
        # The link and network layers must be loaded before sniffing, or scapy cannot dissect what it reads.
        import scapy.layers.dns
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2  # noqa: F401
        from scapy.interfaces import get_if_list
        from scapy.sendrecv import AsyncSniffer

        sniffer = AsyncSniffer(iface=get_if_list(), store=False, prn=keep)
        sniffer.start()
        deadline = time.monotonic() + 5.0
        while not getattr(sniffer, "running", False) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # the sockets open in the sniffer's thread, just after `running` turns true
    except Exception as exc:
        conn.send(("error", f"{exc.__class__.__name__}: {exc}"))
        return
    conn.send(("ready",))
    try:
        while True:
            message = conn.recv()
            if message[0] == "watch":
                remotes.add(message[1])
                conn.send(True)
            elif message[0] == "flow":
                _, proto, local_port, remote, remote_port = message
                with lock:
                    matches = [
                        s
                        for s in seen
                        if s.proto == proto
                        and ((s.src == remote and s.sport == remote_port and s.dport == local_port)
                             or (s.dst == remote and s.dport == remote_port and s.sport == local_port))
                    ]  # fmt: skip
                conn.send(matches)
            else:
                break
    except (EOFError, OSError):
        pass  # the parent went away: nothing left to answer
    finally:
        with contextlib.suppress(Exception):
            sniffer.stop()


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
