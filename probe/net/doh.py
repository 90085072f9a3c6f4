"""DNS-over-HTTPS (RFC 8484) over HTTP/2: the trusted control resolver.

The defaults are address literals whose certificates name the address itself, so reaching them needs no DNS
lookup that a censor could poison, and the TLS validation is as strict as for any name.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from dataclasses import dataclass, field
from types import TracebackType

import dns.message
import httpx

from probe.failures import Failure, TooLarge, classify
from probe.model import DNSQuery
from probe.net.clock import Clock
from probe.net.dns import Query, Question, make_query
from probe.net.http2 import Connection, NotHTTP2, Refused

# Public DoH services reachable by address, each certificate carrying the address as a SAN.
DEFAULT_DOH = (
    "https://1.1.1.1/dns-query",  # Cloudflare
    "https://8.8.8.8/dns-query",  # Google
    "https://9.9.9.9/dns-query",  # Quad9
)
_MEDIA_TYPE = "application/dns-message"
# A DNS message is at most 65,535 bytes (RFC 1035 4.2.2's length prefix; RFC 8484 carries one message): a body
# longer than that is no answer, and reading it whole let a hostile server drive the probe to 2.9 GB (issue 21).
MAX_BODY = 65535
# A server that takes queries and answers none of them in time (a byte a second, or a connection a censor froze
# after the handshake) holds each of the 32 slots below for a whole timeout, and a run's 2 x hosts x DoH URLs
# queries wait their turn: a thousand endpoints, 6,000 queries, some 16 minutes at the default 5 s, far past the
# bound a run keeps whatever its peers do (issue 21). Once this many queries to one URL in a row ended at their
# deadline, the first of them sent STALLED_TIMEOUTS timeouts ago or more (so not one burst of queries caught
# together behind a lost segment on a lossy path), the URL is taken as stalled for the run.
STALLED_AFTER = 16
STALLED_TIMEOUTS = 3
# A request refused by a connection that is going away (GOAWAY, REFUSED_STREAM) is sent again on a new one, so often.
_SENDS = 3
# No compression: a compressed body would be inflated before its size could be checked.
_HEADERS = [(b"accept", b"application/dns-message"), (b"content-type", b"application/dns-message"),
            (b"accept-encoding", b"identity")]  # fmt: skip


@dataclass
class _Origin:
    """One DoH URL's HTTP/2 connection (probe.net.http2), or the word that its server wants httpx's HTTP/1.1."""

    host: str
    port: int
    authority: str
    path: str
    http1: bool = False
    connection: Connection | None = None
    connect_failed: bool = False  # the last attempt to connect failed (or ran out of time)
    retired: list[Connection] = field(default_factory=list)  # closed at the end: their last answers may be due
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def of(cls, url: str) -> _Origin:
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            port = parts.port or 443
        except ValueError:
            port = 0
        origin = cls(parts.hostname or "", port, parts.netloc.rpartition("@")[2], path)
        # Anything unusual (not https, user info, no host) goes to httpx, which says what is wrong with it.
        origin.http1 = parts.scheme != "https" or not origin.host or "@" in parts.netloc or not port
        return origin


class DoHClient:
    """The DoH queries of a run: one HTTP/2 connection per DoH URL (probe.net.http2), shared by every query to
    it; httpx for a server that speaks only HTTP/1.1.

    The first query to a server goes alone: HTTP/2 queues every other request for that origin behind the one
    connection being opened, so a server that does not answer (DoH is often blocked where it matters) would
    otherwise cost one timeout per query, one after another. When the first query cannot even connect, the
    server is marked unreachable for the run and later queries fail at once with the same failure; so do they once
    the server has stalled (STALLED_AFTER). Such a query was never sent, and says so (tag `not_sent`).
    """

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        context.set_alpn_protocols(["h2", "http/1.1"])  # HTTP/2 (RFC 8484 section 5.2), HTTP/1.1 for httpx
        self._context = context
        self._origins: dict[str, _Origin] = {}
        self._timeout = timeout  # for the whole request, the answer's body included (httpx's is per read)
        self._first_contact: dict[str, asyncio.Future[str | None]] = {}
        # Per URL: queries timed out in a row, and the loop time at which the first of them was sent.
        self._timeouts_in_a_row: dict[str, tuple[int, float]] = {}
        # Requests in flight at once: a DoH service should not see a flood from one volunteer (and httpx, for an
        # HTTP/1.1 server, scans its whole queue for each request: thousands queued at once cost seconds of CPU).
        self._in_flight = asyncio.Semaphore(32)
        # For servers that chose HTTP/1.1 over the HTTP/2 offered (_post). With http2=True httpx offers both in the
        # shared context's ALPN (httpcore sets it at each connect), so a connection to another URL still offers h2.
        self._client = httpx.AsyncClient(
            http2=True,
            verify=context,
            timeout=timeout,
            trust_env=False,  # a proxy from the environment would change what is measured
            # No compression: a compressed body would be inflated before its size could be checked.
            headers={"accept": _MEDIA_TYPE, "accept-encoding": "identity"},
        )

    async def __aenter__(self) -> DoHClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connections = [c for o in self._origins.values() for c in (*o.retired, o.connection) if c is not None]
        await asyncio.gather(*(c.close() for c in connections))
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
        query = make_query(name, query_type, query_id=0)  # RFC 8484 section 4.1: id 0 keeps HTTP caches friendly
        async with self._in_flight:
            return await self._query(url, query, Question("doh", url, name, query_type, transaction_id, tags), clock)

    async def _query(self, url: str, query: Query, question: Question, clock: Clock) -> DNSQuery:
        t0 = clock()
        contact = self._first_contact.get(url)
        first = contact is None
        if contact is None:
            contact = self._first_contact[url] = asyncio.get_running_loop().create_future()
        else:
            unreachable = await asyncio.shield(contact)
            if unreachable is not None:
                return question.not_sent(unreachable, t0, clock())
        loop = asyncio.get_running_loop()
        count, since = self._timeouts_in_a_row.get(url, (0, 0.0))
        if count >= STALLED_AFTER and loop.time() - since >= STALLED_TIMEOUTS * self._timeout:
            return question.not_sent(Failure.GENERIC_TIMEOUT_ERROR.value, t0, clock())
        sent = loop.time()
        record = await self._exchange(url, query, question, clock, t0, contact if first else None)
        if record.failure != Failure.GENERIC_TIMEOUT_ERROR.value:
            self._timeouts_in_a_row.pop(url, None)
        else:
            count, since = self._timeouts_in_a_row.get(url, (0, sent))
            self._timeouts_in_a_row[url] = (count + 1, min(since, sent))
        return record

    async def _exchange(
        self,
        url: str,
        query: Query,
        question: Question,
        clock: Clock,
        t0: float,
        contact: asyncio.Future[str | None] | None,
    ) -> DNSQuery:
        """The query sent and its answer read; `contact` is the URL's first contact when this is it."""
        try:
            # One deadline for the whole exchange: a server that sends its answer a byte at a time kept a run
            # alive for minutes under httpx's per-read timeout (issue 21).
            async with asyncio.timeout(self._timeout):
                status, wire = await self._post(url, query.wire)
            if status != 200:
                return question.failed(Failure.HTTP_UNEXPECTED_STATUS_CODE.value, t0, clock())
            message = dns.message.from_wire(wire)
        except Exception as exc:  # httpx, h2, ssl, dnspython: every error is data for the control
            failure = classify(exc)
            if contact is not None:
                connecting = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                unreachable = connecting or self._origin(url).connect_failed
                contact.set_result(failure if unreachable else None)
            return question.failed(failure, t0, clock())
        finally:
            if contact is not None and not contact.done():
                contact.set_result(None)
        if not query.answered_by(message):
            return question.failed(Failure.DNS_REPLY_WITH_WRONG_QUERY_ID.value, t0, clock())
        return question.answered(message, wire, t0, clock())

    async def _post(self, url: str, wire: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST, reading at most MAX_BODY bytes of the body (TooLarge beyond): over HTTP/2
        by probe.net.http2, or by httpx where the server would not speak HTTP/2."""
        origin = self._origin(url)
        for _ in range(_SENDS):
            if origin.http1:
                break
            try:
                connection = await self._connection(origin)
                return await connection.post(origin.authority, origin.path, _HEADERS, wire, MAX_BODY)
            except NotHTTP2:
                origin.http1 = True
            except Refused:
                continue
        else:
            raise Refused("the server refused the query on every connection")
        return await self._post_http1(url, wire)

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = self._origins[url] = _Origin.of(url)
        return origin

    async def _connection(self, origin: _Origin) -> Connection:
        """The origin's open connection, or a new one (one query at a time opens it, the others wait for it)."""
        async with origin.opening:
            if origin.connection is not None and origin.connection.usable:
                return origin.connection
            # One going away may still be answering what it took; a failed one needs nothing more.
            origin.retired = [c for c in (*origin.retired, origin.connection) if c is not None and not c.closed]
            origin.connection = None
            try:
                origin.connection = await Connection.open(origin.host, origin.port, self._context)
            except NotHTTP2:
                raise
            except BaseException:  # refused, reset, invalid certificate, or the query's deadline while connecting
                origin.connect_failed = True
                raise
            origin.connect_failed = False
            return origin.connection

    async def _post_http1(self, url: str, wire: bytes) -> tuple[int, bytes]:
        headers = {"content-type": _MEDIA_TYPE}
        async with self._client.stream("POST", url, content=wire, headers=headers) as response:
            if response.status_code != 200:
                return response.status_code, b""
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_BODY:
                    raise TooLarge(f"a DoH answer over {MAX_BODY} bytes")
            return response.status_code, bytes(body)
