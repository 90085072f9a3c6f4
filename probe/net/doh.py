"""DNS-over-HTTPS (RFC 8484) over HTTP/2: the trusted control resolver.

The defaults are address literals whose certificates name the address itself, so reaching them needs no DNS
lookup that a censor could poison, and the TLS validation is as strict as for any name.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import dns.message
import httpx

from probe.failures import Failure, classify
from probe.model import DNSQuery
from probe.net.clock import Clock
from probe.net.dns import Question, make_query

# Public DoH services reachable by address, each certificate carrying the address as a SAN.
DEFAULT_DOH = (
    "https://1.1.1.1/dns-query",  # Cloudflare
    "https://8.8.8.8/dns-query",  # Google
    "https://9.9.9.9/dns-query",  # Quad9
)
_MEDIA_TYPE = "application/dns-message"


class DoHClient:
    """One HTTP/2 connection pool per run, shared by every DoH query."""

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            http2=True,
            verify=context,
            timeout=timeout,
            trust_env=False,  # a proxy from the environment would change what is measured
            headers={"accept": _MEDIA_TYPE},
        )

    async def __aenter__(self) -> DoHClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def query(
        self,
        url: str,
        name: str,
        query_type: str,
        *,
        clock: Clock,
        transaction_id: int,
        tags: tuple[str, ...] = (),
    ) -> DNSQuery:
        """POST one query to `url`; the record's failure says what went wrong, if anything."""
        query = make_query(name, query_type)
        query.id = 0  # RFC 8484 section 4.1: id 0 keeps HTTP caches friendly
        question = Question("doh", url, name, query_type, transaction_id, tags)
        t0 = clock()
        try:
            response = await self._client.post(url, content=query.to_wire(), headers={"content-type": _MEDIA_TYPE})
            if response.status_code != 200:
                return question.failed(Failure.HTTP_UNEXPECTED_STATUS_CODE.value, t0, clock())
            wire = response.content
            message = dns.message.from_wire(wire)
        except Exception as exc:  # httpx, h2, ssl, dnspython: every error is data for the control
            return question.failed(classify(exc), t0, clock())
        if not query.is_response(message):
            return question.failed(Failure.DNS_REPLY_WITH_WRONG_QUERY_ID.value, t0, clock())
        return question.answered(message, wire, t0, clock())
