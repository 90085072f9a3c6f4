"""Address literals: telling an IP address from a host name, wherever a string may be either."""

from __future__ import annotations

import ipaddress


def is_ip_address(text: str) -> bool:
    """True for an IPv4 or IPv6 address literal (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
