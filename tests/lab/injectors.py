"""On-path injectors that run inside the censor namespace (scapy): what iptables alone cannot do.

    python injectors.py dns --client-if IF --server-if IF --resolver IP --forged IP --delay S [--more IP@S]...
                            [--aaaa IP6] [--spare-resolver] NAME...
    python injectors.py servfail --server-if IF --resolver IP NAME...
    python injectors.py fin --client-if IF --port P SNI...

`dns`: a GFW-style DNS injector. Every A query for a censored name that crosses the censor, to any address, gets a
forged answer at once, spoofed from the address it was sent to (so a host that runs no DNS server "answers" too).
The genuine answer of the system resolver is dropped in FORWARD by an iptables rule; this process sees it on the
server-side interface (a sniffer sees packets before netfilter does) and sends it on `--delay` seconds later, so the
client gets the forged answer first and the genuine one after it (the race the probe's late-answer window is for).
There is no netem on this kernel; this is the user-space delay lab.md recommends. `--more IP@S` adds injectors
on other hops: a further forged answer S seconds after the query, with its own IP TTL and IP-IDs (the GFW runs
several, some answering after the genuine resolver); `--aaaa` answers AAAA queries with a forged address (the
GFW's are Teredo); `--spare-resolver` leaves queries to the resolver alone (behind a poisoned in-country
resolver, only queries that cross the border meet the injector).

`servfail`: the resolver's answers for the names (dropped in FORWARD) are sent on as SERVFAIL without answers.

`fin`: a FIN/ACK injector. The ClientHello with a censored SNI is dropped in FORWARD (the server never sees it);
this process answers it with a FIN/ACK spoofed from the server, in sequence, so the client's TLS stack reads a clean
end of stream right after its ClientHello. Over IPv4 and IPv6 alike.

Each prints "ready" on stdout once its sniffers run, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    dns_p = sub.add_parser("dns")
    dns_p.add_argument("--client-if", required=True)
    dns_p.add_argument("--server-if", required=True)
    dns_p.add_argument("--resolver", required=True)
    dns_p.add_argument("--forged", required=True)
    dns_p.add_argument("--delay", type=float, default=0.08)
    dns_p.add_argument("--forged-delay", type=float, default=0.0)
    dns_p.add_argument("--more", action="append", default=[])
    dns_p.add_argument("--aaaa")
    dns_p.add_argument("--spare-resolver", action="store_true")
    dns_p.add_argument("names", nargs="+")
    servfail_p = sub.add_parser("servfail")
    servfail_p.add_argument("--server-if", required=True)
    servfail_p.add_argument("--resolver", required=True)
    servfail_p.add_argument("names", nargs="+")
    fin_p = sub.add_parser("fin")
    fin_p.add_argument("--client-if", required=True)
    fin_p.add_argument("--port", type=int, action="append", required=True)
    fin_p.add_argument("snis", nargs="+")
    args = parser.parse_args(argv)

    from scapy.all import AsyncSniffer, conf  # heavy: only in the injector process

    # One raw socket per family for every injected packet: opening one per packet is slow.
    raw4, raw6 = conf.L3socket(), conf.L3socket6()

    def raw_send(pkt: Any) -> None:
        (raw6 if pkt.version == 6 else raw4).send(pkt)

    if args.kind == "dns":
        more = [(ip, float(at)) for ip, _, at in (m.rpartition("@") for m in args.more)]
        sniffers = dns_injector(
            raw_send,
            args.client_if,
            args.server_if,
            args.resolver,
            [(args.forged, args.forged_delay), *more],
            args.delay,
            args.names,
            aaaa=args.aaaa,
            spare_resolver=args.spare_resolver,
        )
    elif args.kind == "servfail":
        sniffers = servfail_rewriter(raw_send, args.server_if, args.resolver, args.names)
    else:
        sniffers = fin_injector(raw_send, args.client_if, args.port, args.snis)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = threading.Semaphore(0)
    # A kernel (BPF) filter per sniffer: scapy dissects only the packets the injector may act on, so it keeps
    # pace with a probe's burst of connections and queries and answers within milliseconds.
    running = [
        AsyncSniffer(iface=iface, filter=bpf, prn=prn, store=False, started_callback=started.release)
        for iface, bpf, prn in sniffers
    ]
    for sniffer in running:
        sniffer.start()
    for _ in running:
        if not started.acquire(timeout=20):
            print("sniffer did not start", file=sys.stderr, flush=True)
            return 1
    print("ready", flush=True)
    stop.wait()
    for sniffer in running:
        with contextlib.suppress(Exception):  # a sniffer that died on its own has nothing left to stop
            sniffer.stop()
    return 0


Sniffer = tuple[str, str, Callable[[Any], None]]  # interface, BPF filter, what to do with a packet
Send = Callable[[Any], Any]


def dns_wire(name: str) -> bytes:
    """`name` as DNS writes it in a question: length-prefixed labels and a final zero."""
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\x00"


def question_filter(names: list[str]) -> str:
    """A BPF filter expression true for a UDP DNS packet (query or response) whose question is one of `names`.

    The question's name starts right after the 8-byte UDP and the 12-byte DNS header, uncompressed in queries and
    responses alike; it is compared in 4-, 2- and 1-byte slices, the final zero included (no longer name matches).
    Without it every DNS query crossing the censor was dissected in Python (some 440 a run of the probe and its
    self-test, against some 25 for the censored names): beside four labs and two CPU burners the injector fell
    up to 2.8 s behind (0.5 s with the filter), its forged answer came after the genuine one, and could come after
    the probe had stopped listening.
    """
    alternatives = []
    for name in names:
        wire = dns_wire(name.lower())
        at, slices = 0, []
        while at < len(wire):
            size = 4 if len(wire) - at >= 4 else 2 if len(wire) - at >= 2 else 1
            slices.append(f"udp[{20 + at}:{size}] = 0x{wire[at : at + size].hex()}")
            at += size
        alternatives.append("(" + " and ".join(slices) + ")")
    return "(" + " or ".join(alternatives) + ")"


def dns_injector(
    send: Send,
    client_if: str,
    server_if: str,
    resolver: str,
    forged: list[tuple[str, float]],
    delay: float,
    names: list[str],
    *,
    aaaa: str | None = None,
    spare_resolver: bool = False,
) -> list[Sniffer]:
    import dns.flags
    import dns.message
    import dns.rdatatype
    import dns.rrset
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    censored = {n.lower().rstrip(".") for n in names}

    def censored_message(payload: bytes, response: bool) -> dns.message.Message | None:
        try:
            message = dns.message.from_wire(payload)
        except Exception:  # not DNS: not ours to touch
            return None
        if bool(message.flags & dns.flags.QR) != response or not message.question:
            return None
        name = message.question[0].name.to_text(omit_final_dot=True).lower()
        return message if name in censored else None

    def lie(query: dns.message.Message, pkt: Any, rdtype: str, address: str, hop: int) -> Any:
        answer = dns.message.make_response(query)
        answer.flags |= dns.flags.RA
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", rdtype, address))
        # Each injector sits on another hop: its own IP TTL, and IP-IDs of its own (issue 15).
        header = IP(src=pkt[IP].dst, dst=pkt[IP].src, ttl=50 - 3 * hop, id=(hop + 1) * 4099 + query.id % 1000)
        return header / UDP(sport=53, dport=pkt[UDP].sport) / Raw(answer.to_wire())

    def on_query(pkt: Any) -> None:
        if IP not in pkt or UDP not in pkt or pkt[UDP].dport != 53:
            return
        if spare_resolver and pkt[IP].dst == resolver:
            return
        query = censored_message(bytes(pkt[UDP].payload), response=False)
        if query is None:
            return
        rdtype = query.question[0].rdtype
        if rdtype == dns.rdatatype.AAAA and aaaa is not None:
            send(lie(query, pkt, "AAAA", aaaa, 0))
            return
        if rdtype != dns.rdatatype.A:
            return
        for hop, (address, after) in enumerate(forged):
            if after > 0:  # an injector that answers later, some after the genuine resolver
                threading.Timer(after, send, args=(lie(query, pkt, "A", address, hop),)).start()
            else:
                send(lie(query, pkt, "A", address, hop))

    def on_response(pkt: Any) -> None:
        if IP not in pkt or UDP not in pkt or pkt[IP].src != resolver or pkt[UDP].sport != 53:
            return
        payload = bytes(pkt[UDP].payload)
        if censored_message(payload, response=True) is None:
            return
        late = IP(src=pkt[IP].src, dst=pkt[IP].dst) / UDP(sport=53, dport=pkt[UDP].dport) / Raw(payload)
        threading.Timer(delay, send, args=(late,)).start()

    questions = question_filter(names)
    sniffers: list[Sniffer] = [(client_if, f"udp dst port 53 and {questions}", on_query)]
    if not spare_resolver:
        sniffers.append((server_if, f"udp and src host {resolver} and src port 53 and {questions}", on_response))
    return sniffers


def servfail_rewriter(send: Send, server_if: str, resolver: str, names: list[str]) -> list[Sniffer]:
    """The resolver's answers for `names` (dropped in FORWARD) go on to the client as SERVFAIL, without answers."""
    import dns.message
    import dns.rcode
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    censored = {n.lower().rstrip(".") for n in names}

    def on_response(pkt: Any) -> None:
        if IP not in pkt or UDP not in pkt or pkt[IP].src != resolver or pkt[UDP].sport != 53:
            return
        try:
            message = dns.message.from_wire(bytes(pkt[UDP].payload))
        except Exception:
            return
        if not message.question or message.question[0].name.to_text(omit_final_dot=True).lower() not in censored:
            return
        message.answer.clear()
        message.authority.clear()
        message.set_rcode(dns.rcode.SERVFAIL)
        send(IP(src=pkt[IP].src, dst=pkt[IP].dst) / UDP(sport=53, dport=pkt[UDP].dport) / Raw(message.to_wire()))

    return [(server_if, f"udp and src host {resolver} and src port 53 and {question_filter(names)}", on_response)]


def fin_injector(send: Send, client_if: str, ports: list[int], snis: list[str]) -> list[Sniffer]:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    triggers = [s.lower().encode() for s in snis]

    def on_segment(pkt: Any) -> None:
        ip = pkt[IP] if IP in pkt else pkt.getlayer(IPv6)
        if ip is None or TCP not in pkt or pkt[TCP].dport not in ports:
            return
        payload = bytes(pkt[TCP].payload)
        if not payload or not any(t in payload for t in triggers):
            return
        fin = (IPv6 if ip.version == 6 else IP)(src=ip.dst, dst=ip.src) / TCP(
            sport=pkt[TCP].dport,
            dport=pkt[TCP].sport,
            flags="FA",
            seq=pkt[TCP].ack,
            ack=pkt[TCP].seq + len(payload),
            window=pkt[TCP].window,
        )
        send(fin)

    # Only segments that carry data toward the censored ports (a ClientHello is a few hundred bytes).
    ports_bpf = " or ".join(f"dst port {p}" for p in ports)
    return [(client_if, f"tcp and ({ports_bpf}) and greater 100", on_segment)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
