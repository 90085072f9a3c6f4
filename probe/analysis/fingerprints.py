"""Known forged DNS answers, as data with sources and dates.

Supporting evidence only, never the sole rule: the pools change (the GFW's shrank from 1,510 to 216 addresses on
2019-11-23, Triplet Censors, FOCI 2020). A match raises a DNS verdict to `high` confidence because it is a
positive artefact; no match proves nothing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Fingerprint:
    name: str
    networks: tuple[str, ...]
    source: str
    seen: str  # when the source observed it


FORGED_ANSWERS: tuple[Fingerprint, ...] = (
    Fingerprint(
        name="Iran's DNS blockpage addresses",
        networks=("10.10.34.34/32", "10.10.34.35/32", "10.10.34.36/32"),
        source="OONI blocking-fingerprints fingerprints_dns.csv; Censored Planet blockpage signatures",
        seen="2014-2024",
    ),
    Fingerprint(
        name="GFW forged answers (legacy pool)",
        networks=(
            "8.7.198.45/32",
            "37.61.54.158/32",
            "46.82.174.68/32",
            "59.24.3.173/32",
            "78.16.49.15/32",
            "93.46.8.89/32",
            "159.106.121.75/32",
            "203.98.7.65/32",
            "243.185.187.39/32",
        ),
        source="OONI fingerprints_dns.csv (ooni.cn_0..9); Citizen Lab, Asia Chats (2014-07-10) fake_responses.txt",
        seen="2014-07",
    ),
    Fingerprint(
        name="GFW forged AAAA answers (Teredo)",
        networks=("2001::/32",),
        source="GFWatch (USENIX Security 2021): every forged AAAA falls in Teredo 2001::/32",
        seen="2020-2021",
    ),
)

_INDEX = tuple((ipaddress.ip_network(n), fp) for fp in FORGED_ANSWERS for n in fp.networks)


def forged_answer(address: str) -> Fingerprint | None:
    """The fingerprint a DNS answer address matches, if any."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for network, fp in _INDEX:
        if ip.version == network.version and ip in network:
            return fp
    return None
