"""The resolver a run tests: resolv.conf's first usable nameserver, or ADDR[:PORT], labelled for result files."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.net import resolvers


def test_system_resolver_is_the_first_address_and_stays_private(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch lan\nnameserver resolver.lan\nnameserver fe80::1%eth0\nnameserver 9.9.9.9\n")
    assert resolvers.system(conf) == resolvers.Resolver("fe80::1", 53, "system")


@pytest.mark.parametrize("text", ["search lan\n", None])
def test_no_system_resolver(tmp_path: Path, text: str | None) -> None:
    conf = tmp_path / "resolv.conf"
    if text is not None:
        conf.write_text(text)
    with pytest.raises(resolvers.NoSystemResolver, match="names no resolver" if text else "cannot read"):
        resolvers.system(conf)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.9.9.9", resolvers.Resolver("9.9.9.9", 53, "9.9.9.9:53")),
        ("9.9.9.9:5353", resolvers.Resolver("9.9.9.9", 5353, "9.9.9.9:5353")),
        ("[2620:fe::fe]:53", resolvers.Resolver("2620:fe::fe", 53, "[2620:fe::fe]:53")),
        ("2620:fe::fe", resolvers.Resolver("2620:fe::fe", 53, "[2620:fe::fe]:53")),
        ("192.168.1.1", resolvers.Resolver("192.168.1.1", 53, "[private]")),
    ],
)
def test_named_resolver(text: str, expected: resolvers.Resolver) -> None:
    assert resolvers.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [("dns.google", "not an IP address"), ("9.9.9.9:x", "must be a number"), ("9.9.9.9:0", "1-65535")],
)
def test_bad_named_resolver(text: str, problem: str) -> None:
    with pytest.raises(resolvers.ResolverError, match=problem):
        resolvers.parse(text)
