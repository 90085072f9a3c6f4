"""Pure parts of the collector's defences (issue 21): the uploader-address check compares parsed addresses, a
client's address group for the new-key limit, and the rate limiter's bounded memory."""

from __future__ import annotations

import ipaddress

import pytest

from probe.collector.checks import holds_address, public_address
from probe.collector.ingest import address_group
from probe.collector.ratelimit import RateLimiter


@pytest.mark.parametrize(
    ("text", "address", "held"),
    [
        (b'"second answer 8.8.8.8 arrived"', "8.8.8.8", True),
        (b'"ans 8.8.8.8."', "8.8.8.8", True),  # a sentence's full stop
        (b'"ipv4":"8.8.8.80"', "8.8.8.8", False),  # issue 21: refused an honest file from 8.8.8.8
        (b'"ipv4":"18.8.8.8"', "8.8.8.8", False),
        (b'"8.8.8.8.1"', "8.8.8.8", False),
        (b'"::FFFF:8.8.8.8"', "8.8.8.8", True),  # other spellings slipped through
        (b'"::ffff:808:808"', "8.8.8.8", True),
        (b'"[2001:4860:0::1]:443"', "2001:4860::1", True),
        (b'"2001:4860:0:0:0:0:0:0001"', "2001:4860::1", True),
        (b'"2001:4860::10"', "2001:4860::1", False),
        (b'"t":"01:54:44","a":"2001:db8::1"', "2001:4860::1", False),
    ],
)
def test_the_uploader_address_is_found_in_any_spelling_and_only_whole(text: bytes, address: str, held: bool) -> None:
    assert holds_address(text, ipaddress.ip_address(address)) is held


def test_a_collector_on_dual_stack_sees_ipv4_uploaders_as_mapped_addresses() -> None:
    # Issue 21: listening on ::, every IPv4 uploader arrived as ::ffff:a.b.c.d and the check was off for all.
    assert public_address("::ffff:8.8.8.8") == ipaddress.IPv4Address("8.8.8.8")
    assert public_address("2001:4860::1") == ipaddress.IPv6Address("2001:4860::1")
    # LAN and documentation addresses name no one (docs/dataset.md): not looked for.
    for private in ("10.1.2.3", "::ffff:192.168.1.5", "fd00::1", "fe80::1%eth0", "127.0.0.1", "not an address"):
        assert public_address(private) is None


def test_one_client_is_its_ipv4_address_or_its_ipv6_slash_64() -> None:
    assert address_group("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")


def test_the_rate_limiter_keeps_a_bounded_number_of_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=0.001, burst=2, clock=lambda: now[0], entries=1000)
    for n in range(20_000):  # keys minted by the thousand, none of whose buckets refills
        limiter.acquire(f"key-{n}")
    assert len(limiter) <= 1000
    # The most recent keys are still limited: their buckets survived.
    assert limiter.acquire("key-19999") == 0.0
    assert limiter.acquire("key-19999") > 0
