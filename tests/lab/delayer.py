"""Long delays for the censor namespace: every forwarded packet held back 0.4-0.8 s (issue 15), in user space.

    python delayer.py delay --low S --high S

The kernel here has no netem, so the censor queues every forwarded packet to user space (`-j NFQUEUE --queue-num
0`) and this process gives each its verdict (accept) only after a delay drawn uniformly from [low, high]: the
packets of one flow may overtake each other, as on a congested path. NetfilterQueue (a binding of Debian's
libnetfilter-queue) allows a verdict after the callback returned; one thread reads the queue and releases what is
due, so no verdict races another. Prints "ready" once bound, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import select
import signal
import sys
import threading
import time
from typing import Any

QUEUE = 0
QUEUE_LENGTH = 65536  # packets held at once: a probe run's burst of handshakes, for up to 0.8 s each


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["delay"])
    parser.add_argument("--low", type=float, default=0.4)
    parser.add_argument("--high", type=float, default=0.8)
    args = parser.parse_args(argv)

    from netfilterqueue import NetfilterQueue

    held: list[tuple[float, int, Any]] = []
    order = itertools.count()

    def on_packet(packet: Any) -> None:
        due = time.monotonic() + random.uniform(args.low, args.high)
        heapq.heappush(held, (due, next(order), packet))

    queue = NetfilterQueue()
    queue.bind(QUEUE, on_packet, max_len=QUEUE_LENGTH)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fd = queue.get_fd()
    print("ready", flush=True)
    try:
        while not stop.is_set():
            wait = max(0.0, min(0.05, held[0][0] - time.monotonic())) if held else 0.05
            readable, _, _ = select.select([fd], [], [], wait)
            if readable:
                queue.run(block=False)
            now = time.monotonic()
            while held and held[0][0] <= now:
                heapq.heappop(held)[2].accept()
    finally:
        for _, _, packet in held:
            packet.accept()
        queue.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
