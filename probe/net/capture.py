"""Packet evidence: the headers of the probe's own flows, to tell an injected packet from a genuine one.

An on-path injector can forge a packet's addresses and ports but rarely its distance: its RST or DNS answer arrives
with another IP TTL (or IP-ID pattern, or TCP window) than the server's own SYN-ACK, sometimes in a burst, and
sometimes the genuine ServerHello still arrives after it (Weaver, Sommer & Paxson, NDSS 2009; Clayton et al.,
PET 2006). This module keeps, per flow, a summary of each packet: TTL, IP-ID, flags, window, timing, DNS answers.

Only flows the probe itself opened are kept: packets must involve an address the probe is about to contact, and
are then matched on the probe's own local port. No payload is kept, and the probe's own address is never recorded.
Needs root or CAP_NET_RAW (a packet socket, AF_PACKET); anything that goes wrong turns capture off, never breaks
a run.

The kernel filters first (bpf.py, issue 15): only the watched addresses' TCP and UDP packets that can be evidence
reach Python, TCP cut after its headers, so the rest of the machine's traffic (a video call, a download) and the
bare ACKs of the probe's own flows cost the capture nothing. Where the kernel refuses the filter, the capture
process checks every frame itself, as before.

The sniffer lives in a process of its own. In a thread, reading every frame would share the interpreter lock
with the event loop, and delayed the probe's own timestamps by up to 0.6 s under load; timing is evidence here.
The parent asks the child, over a pipe, to watch an address (before contacting it), and for the packets of many
flows at once once a phase of the run is over (`flows`): asked per connection, the pipe's round trips and the
making of every summary sat on the event loop's path, and at a thousand endpoints it fell behind (issue 15).
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

from probe.model import PacketSummary
from probe.net import bpf
from probe.net.flow import Flow
from probe.net.packets import Seen, read_frame

_ETH_P_ALL = 0x0003  # every protocol (linux/if_ether.h)
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # kernel receive time, as a struct timespec
_PACKET_OUTGOING = 4  # sockaddr_ll.sll_pkttype of a frame this host sent
_LOOPBACK = 772
_BUFFER = 8 * 1024 * 1024  # a burst of a thousand handshakes must not overflow the socket
_SO_ATTACH_FILTER, _SO_DETACH_FILTER = 26, 27  # asm-generic/socket.h
_FLOWS_AT_ONCE = 500  # flows asked for in one request


def unavailable_reason() -> str | None:
    """Why capture cannot run here, or None when it can."""
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    except PermissionError:
        return "needs root or CAP_NET_RAW"
    except (OSError, AttributeError) as exc:
        return f"packet sockets unavailable ({exc.__class__.__name__})"
    raw.close()
    return None


class Capture:
    """A sniffer over every interface for the length of a run, in a process of its own."""

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

    def watching(self, address: str) -> bool:
        return address in self._watched

    def watch(self, address: str) -> None:
        """Keep packets to and from `address` from now on. Returns once the sniffer knows, so call it before
        contacting the address and the first SYN is kept."""
        if address in self._watched or self._conn is None:
            return
        self._ask(("watch", address))
        self._watched.add(address)

    def flows(self, flows: Sequence[Flow]) -> list[tuple[PacketSummary, ...]]:
        """The summaries of each flow's packets, timed on its measurement's clock, a few hundred flows a request.
        A flow's `label` replaces the far end's address in its summaries (the system resolver's address is
        private: it may name a LAN box)."""
        out: list[tuple[PacketSummary, ...]] = []
        for start in range(0, len(flows), _FLOWS_AT_ONCE):  # a bounded batch: the memory of a large run is the goal
            batch = flows[start : start + _FLOWS_AT_ONCE]
            keys = [(f.proto, f.remote, f.remote_port, f.local_port, f.since, f.until) for f in batch]
            found: list[list[Seen]] = (self._ask(("flows", keys)) if self._conn is not None else None) or [
                [] for _ in batch
            ]
            out += [_summaries(f, seen) for f, seen in zip(batch, found, strict=True)]
        return out

    def stats(self) -> dict[str, Any]:
        """What the capture process saw: frames read, how many were of no watched address, and whether the
        kernel filters (for tests and benchmarks)."""
        return self._ask(("stats",)) or {}

    def _ask(self, message: tuple[Any, ...]) -> Any:
        """Send one request and wait (briefly) for its answer; a dead capture answers nothing, once."""
        with self._lock:
            if self._conn is None:
                return None
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


def _summaries(flow: Flow, seen: list[Seen]) -> tuple[PacketSummary, ...]:
    far = flow.label or (
        f"[{flow.remote}]:{flow.remote_port}" if ":" in flow.remote else f"{flow.remote}:{flow.remote_port}"
    )
    return tuple(
        PacketSummary(
            t=round(s.at - flow.zero, 6),
            direction="in" if s.src == flow.remote else "out",
            proto=flow.proto,
            remote=far,
            ttl=s.ttl,
            ip_id=s.ip_id,
            flags=s.flags,
            window=s.window,
            seq=s.seq,
            ack=s.ack,
            payload_len=s.payload_len,
            dns_id=s.dns_id,
            dns_answers=s.dns_answers,
            transaction_id=flow.transaction_id,
        )
        for s in seen
    )


def _serve(conn: Any) -> None:
    """The capture process: read every frame, keep the watched addresses' packets by flow, answer requests."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us in order
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        raw.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        with contextlib.suppress(OSError):  # a bigger buffer needs root (RCVBUFFORCE); the default may do
            raw.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), _BUFFER)
        raw.setblocking(False)
    except OSError as exc:
        conn.send(("error", f"{exc.__class__.__name__}: {exc}"))
        return
    program = bpf.accept_nothing()
    kernel = _attach(raw, program)
    _drain(raw)  # what arrived before the filter did
    watched: set[bytes] = set()
    flows: dict[tuple[str, str, int, int], list[Seen]] = {}  # (proto, remote, remote port, local port)
    stats = {"frames": 0, "foreign": 0}
    selector = selectors.DefaultSelector()
    selector.register(raw, selectors.EVENT_READ, "frames")
    selector.register(conn.fileno(), selectors.EVENT_READ, "requests")
    conn.send(("ready",))
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "frames":
                    _read_frames(raw, watched, flows, stats)
                    continue
                _read_frames(raw, watched, flows, stats)  # what arrived before the request belongs to its answer
                message = conn.recv()
                if message[0] == "watch":
                    watched.add(ipaddress.ip_address(message[1]).packed)
                    if kernel and program != bpf.any_address():  # past that, more addresses change nothing
                        program = bpf.program(watched)
                        kernel = _attach(raw, program)
                    conn.send(True)
                elif message[0] == "flows":
                    conn.send([[p for p in flows.get(k[:4], ()) if k[4] <= p.at <= k[5]] for k in message[1]])
                elif message[0] == "stats":
                    conn.send({**stats, "kernel_filter": kernel})
                else:
                    return
    except (EOFError, OSError):
        return  # the parent went away: nothing left to answer
    finally:
        raw.close()


def _attach(raw: socket.socket, program: bytes) -> bool:
    """Have the kernel filter the socket with `program` (it replaces the one before); False when it refuses."""
    import ctypes

    code = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", len(program) // 8, ctypes.addressof(code))  # struct sock_fprog
    try:
        raw.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        with contextlib.suppress(OSError):  # the capture process filters every frame itself, as before
            raw.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
        return False
    return True


def _drain(raw: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            raw.recv(65535)


def _read_frames(
    raw: socket.socket, watched: set[bytes], flows: dict[tuple[str, str, int, int], list[Seen]], stats: dict[str, int]
) -> None:
    """Everything waiting on the packet socket, kept by flow when it involves a watched address."""
    while True:
        try:
            frame, ancillary, _, address = raw.recvmsg(65535, 64)
        except BlockingIOError:
            return
        link_type, kind = address[3], address[2]
        if link_type == _LOOPBACK and kind == _PACKET_OUTGOING:
            continue  # loopback shows every packet twice: as sent, and as received
        stats["frames"] += 1
        at = time.time()
        for level, type_, data in ancillary:
            if level == socket.SOL_SOCKET and type_ == _SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = struct.unpack("=qq", data[:16])
                at = seconds + nanoseconds / 1e9
        try:
            seen = read_frame(frame, link_type, at, watched)
        except (struct.error, ValueError):  # a malformed frame is not evidence of anything
            continue
        if seen is None:
            stats["foreign"] += 1
            continue
        src_watched = ipaddress.ip_address(seen.src).packed in watched
        key = (
            (seen.proto, seen.src, seen.sport, seen.dport)
            if src_watched
            else (seen.proto, seen.dst, seen.dport, seen.sport)
        )
        flow = flows.setdefault(key, [])
        if _worth_keeping(seen, flow, key[1]):
            flow.append(seen)


def _worth_keeping(seen: Seen, flow: list[Seen], remote: str) -> bool:
    """What the analysis reads: every DNS packet, every SYN, RST and FIN, the first data each way (ClientHello,
    ServerHello), and the server's data after a RST or FIN from its side (a genuine reply that lost the race to an
    injector). The bare ACKs (the kernel filter drops them already), the rest of the data and the teardown after
    the probe's own close say nothing more, and would multiply a large run's memory."""
    if seen.proto != "tcp" or set(seen.flags or "") & {"S", "R", "F"}:
        return True
    if seen.payload_len == 0:
        return False
    if seen.src == remote and any(p.src == remote and set(p.flags or "") & {"R", "F"} for p in flow):
        return True
    return not any(p.payload_len > 0 and p.src == seen.src for p in flow)
