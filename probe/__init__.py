"""probe: measures whether messaging services are reachable, and how they are blocked when they are not."""

__version__ = "0.1.0"
