"""Privacy in the lab: the client namespace has a real, non-loopback address (198.51.100.2) and a resolver on
its LAN, and the run is online, so connections, handshakes and answers are all recorded. None of the client's
addresses or MACs, the resolver's address, the host name, the user name or any path may enter the result file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import privacy
from tests.lab import plan as addr
from tests.lab.lab import Lab
from tests.lab.verdicts import PROBE, probe_argv, probe_env

pytestmark = pytest.mark.lab

HOST_MARKER = "volunteer-laptop-k3"
USER_MARKER = "volunteer-user-k3"


def test_an_online_result_file_names_nothing_of_the_client(lab: Lab, tmp_path: Path) -> None:
    home = tmp_path / USER_MARKER
    results = tmp_path / "results"
    env = {**probe_env(home), "USER": USER_MARKER, "LOGNAME": USER_MARKER}
    accepted = lab.in_client([PROBE, "init", "--accept-risks", "--no-upload"], env=env)
    assert accepted.returncode == 0, accepted.stderr
    command = " ".join(f"'{a}'" for a in probe_argv(lab, results))
    with lab.censor(()):  # the client's link lives as long as the censor namespace: read it inside
        done = lab.in_client(
            ["unshare", "--uts", "sh", "-c", f"hostname {HOST_MARKER} && exec {command}"], env=env, timeout=180
        )
        identity = privacy.machine(
            [addr.CLIENT, addr.CLIENT6, addr.SYSTEM_RESOLVER],
            [HOST_MARKER, USER_MARKER, home, results, tmp_path],
            netns=lab.client_ns,
        )
        client_addresses, client_macs = privacy.interfaces(lab.client_ns)
    assert {addr.CLIENT, addr.CLIENT6} <= set(client_addresses) and client_macs  # the scan knows the client's own
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["vantage"]["status"] == "online"
    data = Path(summary["result_file"]).read_bytes()
    assert b'"tcp_connect"' in data and b'"peer_certificates"' in data  # a full record, not an empty one
    assert privacy.leaks(data, identity) == []
