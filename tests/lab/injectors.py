"""On-path injectors that run inside the censor namespace (scapy): what iptables alone cannot do.

    python injectors.py dns --client-if IF --server-if IF --resolver IP --forged IP --delay S NAME...
    python injectors.py fin --client-if IF --port P SNI...

`dns`: a GFW-style DNS injector. Every A query for a censored name that crosses the censor, to any address, gets a
forged answer at once, spoofed from the address it was sent to (so a host that runs no DNS server "answers" too).
The genuine answer of the system resolver is dropped in FORWARD by an iptables rule; this process sees it on the
server-side interface (a sniffer sees packets before netfilter does) and sends it on `--delay` seconds later, so the
client gets the forged answer first and the genuine one after it (the race the probe's late-answer window is for).
There is no netem on this kernel; this is the user-space delay lab.md recommends.

`fin`: a FIN/ACK injector. The ClientHello with a censored SNI is dropped in FORWARD (the server never sees it);
this process answers it with a FIN/ACK spoofed from the server, in sequence, so the client's TLS stack reads a clean
end of stream right after its ClientHello.

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
    dns_p.add_argument("names", nargs="+")
    fin_p = sub.add_parser("fin")
    fin_p.add_argument("--client-if", required=True)
    fin_p.add_argument("--port", type=int, action="append", required=True)
    fin_p.add_argument("snis", nargs="+")
    args = parser.parse_args(argv)

    from scapy.all import AsyncSniffer, conf  # heavy: only in the injector process

    raw = conf.L3socket()  # one raw socket for every injected packet: opening one per packet is slow

    if args.kind == "dns":
        sniffers = dns_injector(
            raw.send,
            args.client_if,
            args.server_if,
            args.resolver,
            args.forged,
            args.delay,
            args.forged_delay,
            args.names,
        )
    else:
        sniffers = fin_injector(raw.send, args.client_if, args.port, args.snis)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = threading.Semaphore(0)
    # A kernel (BPF) filter per sniffer: scapy dissects only the packets the injector may act on, so it keeps
    # pace with a probe's burst of connections and answers within milliseconds.
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


def dns_injector(
    send: Send,
    client_if: str,
    server_if: str,
    resolver: str,
    forged: str,
    delay: float,
    forged_delay: float,
    names: list[str],
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

    def on_query(pkt: Any) -> None:
        if IP not in pkt or UDP not in pkt or pkt[UDP].dport != 53:
            return
        query = censored_message(bytes(pkt[UDP].payload), response=False)
        if query is None or query.question[0].rdtype != dns.rdatatype.A:
            return
        answer = dns.message.make_response(query)
        answer.flags |= dns.flags.RA
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", forged))
        lie = IP(src=pkt[IP].dst, dst=pkt[IP].src) / UDP(sport=53, dport=pkt[UDP].sport) / Raw(answer.to_wire())
        if forged_delay > 0:  # an injector that loses the race: the genuine answer gets there first
            threading.Timer(forged_delay, send, args=(lie,)).start()
        else:
            send(lie)

    def on_response(pkt: Any) -> None:
        if IP not in pkt or UDP not in pkt or pkt[IP].src != resolver or pkt[UDP].sport != 53:
            return
        payload = bytes(pkt[UDP].payload)
        if censored_message(payload, response=True) is None:
            return
        late = IP(src=pkt[IP].src, dst=pkt[IP].dst) / UDP(sport=53, dport=pkt[UDP].dport) / Raw(payload)
        threading.Timer(delay, send, args=(late,)).start()

    responses = f"udp and src host {resolver} and src port 53"
    return [(client_if, "udp dst port 53", on_query), (server_if, responses, on_response)]


def fin_injector(send: Send, client_if: str, ports: list[int], snis: list[str]) -> list[Sniffer]:
    from scapy.layers.inet import IP, TCP

    triggers = [s.lower().encode() for s in snis]

    def on_segment(pkt: Any) -> None:
        if IP not in pkt or TCP not in pkt or pkt[TCP].dport not in ports:
            return
        payload = bytes(pkt[TCP].payload)
        if not payload or not any(t in payload for t in triggers):
            return
        fin = IP(src=pkt[IP].dst, dst=pkt[IP].src) / TCP(
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
