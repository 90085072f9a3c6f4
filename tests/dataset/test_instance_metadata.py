"""The collector and the export on an S3 store with no credentials configured never send a packet to the cloud
instance metadata service (169.254.169.254), unless the operator turns it on (AWS_EC2_METADATA_DISABLED=false).

Each runs as the operator starts it, in an empty network namespace where the one way out is a route to
169.254.169.254 into a veth pair that leads nowhere, and an nftables counter on the output
hook counts every packet sent there. The control run, with the operator's opt-in, shows the counter does count."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import empty_netns, need

IMDS = "169.254.169.254"
# Nothing listens there inside the namespace: the S3 requests are refused at once, after the credential lookup.
ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
def watched_netns() -> Iterator[str]:
    """An empty namespace whose only route out leads to the metadata service, through a counter."""
    need(subprocess.run(["which", "nft"], capture_output=True).returncode == 0, "nftables is not installed")
    with empty_netns("pimds") as name:

        def run(*argv: str) -> None:
            subprocess.run(["ip", "netns", "exec", name, *argv], check=True, capture_output=True)

        run("ip", "link", "set", "lo", "up")
        # A veth pair with both ends here (this kernel has no dummy interfaces): what goes out one end reaches the
        # other, which has no address and forwards nothing.
        run("ip", "link", "add", "imds0", "type", "veth", "peer", "name", "imds1")
        run("ip", "addr", "add", "198.51.100.9/24", "dev", "imds0")
        run("ip", "link", "set", "imds0", "up")
        run("ip", "link", "set", "imds1", "up")
        run("ip", "route", "add", f"{IMDS}/32", "dev", "imds0")
        run("nft", "add", "table", "ip", "watch")
        run("nft", "add", "chain", "ip", "watch", "out", "{ type filter hook output priority 0; }")
        run("nft", "add", "rule", "ip", "watch", "out", "ip", "daddr", IMDS, "counter")
        yield name


def packets_to_metadata(netns: str) -> int:
    listing = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "list", "chain", "ip", "watch", "out"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = re.search(r"counter packets (\d+)", listing)
    assert found, listing
    return int(found.group(1))


def operator_environment(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an operator with no AWS credentials anywhere: no AWS_* variable (the test session sets
    AWS_EC2_METADATA_DISABLED for the engines it runs), and a home without ~/.aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), PROBE_HOME=str(home / "probe"), **extra)
    return env


# As the operator starts each: both make their S3 client and check the store before anything else, and stop there
# (exit 2, naming the store) when the store cannot be reached.
COMMANDS = {
    "export": ["dataset", "export", "--store", "s3://probe/raw", "--s3-endpoint", ENDPOINT],
    "collector": ["collector", "serve", "--store", "s3://probe/raw", "--s3-endpoint", ENDPOINT, "--workers", "2"],
}


def run_in(netns: str, command: str, env: dict[str, str]) -> None:
    argv = ["ip", "netns", "exec", netns, sys.executable, "-m", "probe", *COMMANDS[command]]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    # It reached for the store (refused: nothing listens), so it had made its client and looked for credentials.
    assert done.returncode == 2, done.stderr
    assert "s3://probe/raw" in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_never_asks_the_metadata_service(watched_netns: str, tmp_path: Path, command: str) -> None:
    run_in(watched_netns, command, operator_environment(tmp_path))
    assert packets_to_metadata(watched_netns) == 0


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_asks_it_when_the_operator_turns_it_on(watched_netns: str, tmp_path: Path, command: str) -> None:
    """The control: the counter does see boto3's request when the operator allows it (a cloud's own credentials)."""
    run_in(watched_netns, command, operator_environment(tmp_path, AWS_EC2_METADATA_DISABLED="false"))
    assert packets_to_metadata(watched_netns) > 0
