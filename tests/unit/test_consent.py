"""The consent text names everything that leaves the machine, the control vantage included (issue 17)."""

from __future__ import annotations

from probe.local import consent


def test_the_consent_text_says_when_and_how_the_helper_is_contacted() -> None:
    text = " ".join(consent.text("https://collector.example").split())
    assert "Only if a control vantage is configured ([control] helper_url): once per run" in text
    assert "The request carries nothing about you or your results" in text
    assert "same SOCKS proxy as uploads, and without one the helper sees your IP address" in text
