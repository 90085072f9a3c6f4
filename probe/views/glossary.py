"""What the page's words mean: the contract's verdicts and statuses, in the contract's own sentences
(docs/contract.md "Verdicts"), for the "Methods and caveats" section. A test checks that every verdict and status
of `probe.model` has its sentence here, so a new verdict cannot reach a page unexplained."""

from __future__ import annotations

VERDICTS = {
    "ok": "resolved consistently, connected, and (for tls) completed a handshake with a certificate valid for the name",
    "dns.injection": "forged DNS answers injected on the path: a second, different answer to one query, or any answer "
    "from a host that runs no DNS server",
    "dns.bogon": "the resolver answered with a non-routable (bogon) address while the control resolves to a "
    "routable one",
    "dns.nxdomain": "the resolver says the name does not exist while the control resolves it",
    "dns.mismatch": "a routable answer that the control does not give, outside the expected ASNs, and that fails TLS "
    "validation for the name",
    "dns.timeout": "queries for this name go unanswered while other names resolve through the same resolver",
    "dns.nodata": "the resolver gives no address for the name (NOERROR with no answer, or SERVFAIL) while the control "
    "resolves it",
    "tcp.timeout": "SYNs to the address go unanswered (IP blackhole) while the controls connect",
    "tcp.reset": "the connection attempt is answered by a RST",
    "tls.reset": "the connection is reset after the ClientHello (SNI filtering when a control SNI to the same address "
    "succeeds)",
    "tls.timeout": "the handshake stalls after the ClientHello",
    "tls.closed": "the connection is closed (FIN) or an alert arrives right after the ClientHello",
    "tls.mitm": "the server presents a certificate that is not valid for the name (untrusted issuer or wrong name)",
    "tls.stall": "a transfer over the established connection stops after some bytes and never resumes, while the "
    "control's completes",
    "tls.throttled": "a transfer completes at a tenth or less of the control's throughput, over several tries",
    "app.timeout": "the connection (and for tls the handshake) succeeds, but the protocol's first message goes "
    "unanswered, while controls answer",
    "app.reset": "the connection succeeds, but the protocol's first message is answered by a reset, while controls "
    "answer",
    "app.closed": "the connection succeeds, but the connection is closed after the protocol's first message, while "
    "controls answer",
    "inconclusive": "the vantage point cannot measure this: controls fail too, or the evidence is contradictory",
}

STATUSES = {
    "reachable": "every core endpoint (or one of each group that stands in for each other) worked",
    "partial": "some core endpoints were blocked, others worked (or runs that day disagreed without a majority)",
    "blocked": "every core endpoint was blocked",
    "inconclusive": "the vantage points could not tell (offline, or controls failed too)",
}

HEALTH = {
    "online": "the controls answered: the run's verdicts stand",
    "overloaded": "the probe was too busy to keep time: its timeouts are no evidence",
    "restricted": "only domestic controls answered (a national allowlist or an international cut)",
    "captive portal": "every control name resolved to one address and no control's TLS validated",
    "offline": "no control answered: every verdict of the run is inconclusive",
    "unknown": "measured by a probe that did not record its vantage (older exports)",
}
