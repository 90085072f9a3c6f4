"""Informed consent: the text a volunteer reads before the first measurement, its version, and the record of the
answer in the configuration file.

After OONI Probe's onboarding ("Heads Up": others can see you run it, data is published, you may test things that
are objectionable where you are) and its risks page; ../shared/research/signing_upload.md section 5. Bump
`VERSION` whenever the text changes what the volunteer agrees to: every probe then asks again before measuring.
"""

from __future__ import annotations

from datetime import UTC, datetime

from probe.local import config

VERSION = 1

RISKS_URL = "https://ooni.org/about/risks/"


def text(collector_url: str | None) -> str:
    """What the volunteer must read before agreeing, for the collector they would upload to (if any)."""
    collector = collector_url or "(none is set yet: `probe init --collector URL` sets one)"
    return f"""\
Before probe measures anything, please read this.

WHAT PROBE DOES
  Each run looks up the names of messaging services (KakaoTalk, LINE, WeChat, WhatsApp, Telegram, Signal) and of
  a few control sites, through your resolver and through encrypted DNS (DoH), connects to their servers and starts
  TLS handshakes with them, to find out whether they are blocked and how. A run takes about a minute and sends a
  few hundred small packets. Scheduled runs repeat this unattended.

WHAT LEAVES THIS MACHINE
  - The measurements travel over your network. Whoever watches it (your Internet provider, your employer, the
    state) can see that this machine contacts these services and DoH resolvers, and may recognise the pattern of a
    censorship measurement tool.
  - Result files stay in your results folder. They hold your country and network (ASN), what the services and
    resolvers answered, certificates, timings and verdicts. They never hold your IP address, your LAN addresses,
    your resolver's address, your host name, your user name or your paths.
  - Only if you choose to upload: each result file is signed with a key made on this machine and sent to the
    collector
      {collector}
    and may be published in an open dataset that anyone can read. The signing key links all uploads of this probe
    to each other (`probe key rotate` starts a new one). The collector sees your IP address while it receives an
    upload, unless you upload through a SOCKS proxy such as Tor ([upload] socks_proxy).
  - Only if a control vantage is configured ([control] helper_url): once per run, probe asks it for its own
    measurements of the same services, to tell an outage from a block. The request carries nothing about you or
    your results; it goes through the same SOCKS proxy as uploads, and without one the helper sees your IP address.

THE RISKS
  In some countries measuring censorship, or merely contacting blocked services, is illegal or dangerous. Running
  probe can draw attention to you. probe is not a privacy tool: it does not hide from your network what it does.
  How much risk this is for you depends on where you are, on your network, and on who might be watching; if in
  doubt, ask someone who knows the law and the practice where you are before you run it
  ({RISKS_URL}). Uploads can be turned off and results kept on this machine only; you can stop
  at any time (`probe schedule remove`, then delete the results folder).
"""


def given(settings: config.Settings) -> bool:
    """True when the volunteer accepted the current version of the text."""
    return settings.consent.accepted and settings.consent.version >= VERSION


def record(upload: bool | None, collector_url: str | None = None) -> config.Settings:
    """Record consent to the current text now, the upload choice (None keeps the current one) and the collector
    (None keeps the current one), in the configuration file (the file alone: environment overrides are not written
    into it). Returns what was saved."""
    path = config.config_path()
    current = config.load_file(path)
    accepted = config.Consent(
        accepted=True, version=VERSION, when=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    changes: dict[str, object] = {} if upload is None else {"enabled": upload}
    if collector_url is not None:
        changes["collector_url"] = collector_url
    upload_settings = current.upload.model_copy(update=changes)
    saved = current.model_copy(update={"consent": accepted, "upload": upload_settings})
    config.save(saved, path)
    return saved
