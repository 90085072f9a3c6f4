"""Packet capture in the kernel it runs on (issue 15): the capture process attaches its BPF filter, only the watched
address's packets that can be evidence reach Python, and a batch of flows is read back in one request. Runs in an
empty network namespace with two documentation addresses on its loopback; needs root (CI runs as root)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.netns import empty_netns

SCRIPT = r"""
import json, socket, subprocess, time
from probe.net.flow import Flow
from probe.net.capture import Capture

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for address in ("198.51.100.7", "198.51.100.8"):
    subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
capture = Capture()
capture.start()
capture.watch("198.51.100.7")
flows = []
for server in ("198.51.100.7", "198.51.100.8"):
    listener = socket.create_server((server, 8443))
    since = time.time()
    client = socket.socket()
    client.bind(("127.0.0.1", 0))  # the probe's side: an address nobody watches
    client.connect((server, 8443))
    accepted, _ = listener.accept()
    client.sendall(b"h" * 300)  # a ClientHello's size
    accepted.recv(1000)
    accepted.sendall(b"s" * 3000)  # a ServerHello and certificates: several segments, acknowledged
    received = 0
    while received < 3000:
        received += len(client.recv(4000))
    local_port = client.getsockname()[1]
    client.close()
    accepted.close()
    listener.close()
    time.sleep(0.2)
    flows.append(Flow("tcp", local_port, server, 8443, since, time.time(), since, 1))
found = capture.flows(flows)
summaries = [[(p.direction, p.flags, p.payload_len) for p in f] for f in found]
print(json.dumps({"stats": capture.stats(), "flows": summaries}))
capture.stop()
"""


def test_the_kernel_filters_and_flows_come_back_in_one_batch() -> None:
    with empty_netns("pcap") as ns:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SCRIPT],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    watched, other = out["flows"]
    stats = out["stats"]
    assert stats["kernel_filter"] is True, stats
    assert stats["foreign"] == 0, f"a packet of an unwatched address reached Python: {stats}"
    flags = [f for _, f, _ in watched]
    assert flags[:2] == ["S", "SA"], watched
    assert ("out", "PA", 300) in [tuple(p) for p in watched], "the ClientHello's first segment"
    assert any(d == "in" and n > 0 for d, _, n in watched), "the server's first data"
    assert not [p for p in watched if p[1] == "A" and p[2] == 0], "bare ACKs stay in the kernel"
    assert any("F" in f for f in flags), "the close"
    assert other == [], "the unwatched address's flow was not kept"
    assert stats["frames"] <= len(watched) + 4, stats  # the kernel passed little more than what was kept
