"""The failure vocabulary (OONI df-007) and `classify`, the one place where exceptions become failure strings.

Every other module stores `failure: str | None`; none of them inspects an exception. A string here is stable API
(the dataset groups on it): add new ones, never rename. Anything not recognised becomes
`unknown_failure: <text>` with addresses scrubbed, and `tests/unit/test_failures.py` proves that every exception
type and errno the code can meet maps to a named string instead.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from enum import StrEnum


class Failure(StrEnum):
    """OONI's failure strings (ooni/spec data-formats/df-007-errors.md), plus a few of our own marked below."""

    ADDRESS_FAMILY_NOT_SUPPORTED = "address_family_not_supported"
    ADDRESS_IN_USE = "address_in_use"
    ADDRESS_NOT_AVAILABLE = "address_not_available"
    ALREADY_CONNECTED = "already_connected"
    BAD_ADDRESS = "bad_address"
    BAD_FILE_DESCRIPTOR = "bad_file_descriptor"
    CONNECTION_ABORTED = "connection_aborted"
    CONNECTION_ALREADY_CLOSED = "connection_already_closed"
    CONNECTION_ALREADY_IN_PROGRESS = "connection_already_in_progress"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS_BOGON_ERROR = "dns_bogon_error"
    DNS_NXDOMAIN_ERROR = "dns_nxdomain_error"
    DNS_NO_ANSWER = "dns_no_answer"
    DNS_NON_RECOVERABLE_FAILURE = "dns_non_recoverable_failure"
    DNS_REFUSED_ERROR = "dns_refused_error"
    DNS_REPLY_WITH_WRONG_QUERY_ID = "dns_reply_with_wrong_query_id"
    DNS_SERVER_MISBEHAVING = "dns_server_misbehaving"
    DNS_SERVFAIL_ERROR = "dns_servfail_error"
    DNS_TEMPORARY_FAILURE = "dns_temporary_failure"
    DESTINATION_ADDRESS_REQUIRED = "destination_address_required"
    EOF_ERROR = "eof_error"
    GENERIC_TIMEOUT_ERROR = "generic_timeout_error"
    HOST_UNREACHABLE = "host_unreachable"
    HTTP_REQUEST_FAILED = "http_request_failed"
    HTTP_UNEXPECTED_STATUS_CODE = "http_unexpected_status_code"
    INTERRUPTED = "interrupted"
    INVALID_ARGUMENT = "invalid_argument"
    JSON_PARSE_ERROR = "json_parse_error"
    MESSAGE_SIZE = "message_size"
    NETWORK_DOWN = "network_down"
    NETWORK_RESET = "network_reset"
    NETWORK_UNREACHABLE = "network_unreachable"
    NO_BUFFER_SPACE = "no_buffer_space"
    NO_PROTOCOL_OPTION = "no_protocol_option"
    NOT_A_SOCKET = "not_a_socket"
    NOT_CONNECTED = "not_connected"
    OPERATION_WOULD_BLOCK = "operation_would_block"
    PERMISSION_DENIED = "permission_denied"
    PROTOCOL_NOT_SUPPORTED = "protocol_not_supported"
    SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"
    SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
    SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
    SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
    TIMED_OUT = "timed_out"
    WRONG_PROTOCOL_TYPE = "wrong_protocol_type"
    # ours: a TLS alert from the peer during the handshake (OONI folds it into ssl_failed_handshake, but an alert
    # right after the ClientHello is how some censors close the door, so it is worth its own name).
    SSL_ALERT_RECEIVED = "ssl_alert_received"
    # ours: the peer sent more than any real server of that protocol does (a DoH answer over 64 kB); the read was cut
    # at the cap and nothing of it kept. A hostile peer drove the probe to 2.9 GB with a 300 MB answer (issue 21).
    RESPONSE_TOO_LARGE = "response_too_large"
    # ours (issue 16): the answer to a protocol's first message is not that protocol's well-formed answer (a
    # blockpage, garbage, another protocol); and a transfer that received nothing for the whole stall window: it
    # stopped, where a slow one still trickles (generic_timeout_error at its deadline).
    UNEXPECTED_ANSWER = "unexpected_answer"
    TRANSFER_STALLED = "transfer_stalled"


UNKNOWN_PREFIX = "unknown_failure: "

# errno -> failure. Linux errno names; EPERM and EACCES both come from a local firewall or policy, which the
# analysis must never mistake for censorship on the path.
ERRNO_FAILURES: dict[int, Failure] = {
    errno.EAFNOSUPPORT: Failure.ADDRESS_FAMILY_NOT_SUPPORTED,
    errno.EADDRINUSE: Failure.ADDRESS_IN_USE,
    errno.EADDRNOTAVAIL: Failure.ADDRESS_NOT_AVAILABLE,
    errno.EISCONN: Failure.ALREADY_CONNECTED,
    errno.EFAULT: Failure.BAD_ADDRESS,
    errno.EBADF: Failure.BAD_FILE_DESCRIPTOR,
    errno.ECONNABORTED: Failure.CONNECTION_ABORTED,
    errno.EALREADY: Failure.CONNECTION_ALREADY_IN_PROGRESS,
    errno.EINPROGRESS: Failure.CONNECTION_ALREADY_IN_PROGRESS,
    errno.ECONNREFUSED: Failure.CONNECTION_REFUSED,
    errno.ECONNRESET: Failure.CONNECTION_RESET,
    # EPIPE: we wrote after the peer (or someone posing as it) reset the connection.
    errno.EPIPE: Failure.CONNECTION_RESET,
    errno.EDESTADDRREQ: Failure.DESTINATION_ADDRESS_REQUIRED,
    errno.EHOSTUNREACH: Failure.HOST_UNREACHABLE,
    errno.EHOSTDOWN: Failure.HOST_UNREACHABLE,
    errno.EINTR: Failure.INTERRUPTED,
    errno.EINVAL: Failure.INVALID_ARGUMENT,
    errno.EMSGSIZE: Failure.MESSAGE_SIZE,
    errno.ENETDOWN: Failure.NETWORK_DOWN,
    errno.ENETRESET: Failure.NETWORK_RESET,
    errno.ENETUNREACH: Failure.NETWORK_UNREACHABLE,
    errno.ENOBUFS: Failure.NO_BUFFER_SPACE,
    errno.ENOMEM: Failure.NO_BUFFER_SPACE,
    errno.ENOPROTOOPT: Failure.NO_PROTOCOL_OPTION,
    errno.ENOTSOCK: Failure.NOT_A_SOCKET,
    errno.ENOTCONN: Failure.NOT_CONNECTED,
    errno.EAGAIN: Failure.OPERATION_WOULD_BLOCK,
    errno.EACCES: Failure.PERMISSION_DENIED,
    errno.EPERM: Failure.PERMISSION_DENIED,
    errno.EPROTONOSUPPORT: Failure.PROTOCOL_NOT_SUPPORTED,
    errno.ETIMEDOUT: Failure.TIMED_OUT,
    errno.EPROTOTYPE: Failure.WRONG_PROTOCOL_TYPE,
}

# getaddrinfo's own error codes (socket.gaierror); used where a user gave a host name (a DoH URL, a collector).
GAI_FAILURES: dict[int, Failure] = {
    socket.EAI_NONAME: Failure.DNS_NXDOMAIN_ERROR,
    socket.EAI_NODATA: Failure.DNS_NO_ANSWER,
    socket.EAI_AGAIN: Failure.DNS_TEMPORARY_FAILURE,
    socket.EAI_FAIL: Failure.DNS_NON_RECOVERABLE_FAILURE,
    socket.EAI_FAMILY: Failure.ADDRESS_FAMILY_NOT_SUPPORTED,
    socket.EAI_SERVICE: Failure.INVALID_ARGUMENT,
    socket.EAI_ADDRFAMILY: Failure.ADDRESS_FAMILY_NOT_SUPPORTED,
}

# DNS response codes (RFC 1035 section 4.1.1, RFC 6895) that are failures.
RCODE_FAILURES: dict[int, Failure] = {
    1: Failure.DNS_SERVER_MISBEHAVING,  # FORMERR
    2: Failure.DNS_SERVFAIL_ERROR,
    3: Failure.DNS_NXDOMAIN_ERROR,
    4: Failure.DNS_SERVER_MISBEHAVING,  # NOTIMP
    5: Failure.DNS_REFUSED_ERROR,
}


class CertificateError(Exception):
    """The peer's certificate chain did not validate; `failure` is one of the ssl_* strings.

    Raised by our own path validation (probe.net.certs), which runs after a handshake made without
    verification so that the chain is kept whatever the outcome.
    """

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure


class DNSFailure(Exception):
    """A DNS exchange that ended without an answer we can use; carries its failure string."""

    def __init__(self, failure: Failure, detail: str = "") -> None:
        super().__init__(detail or failure.value)
        self.failure = failure


class TooLarge(Exception):
    """A peer sent more than the cap on what the probe reads from it."""


class ExchangeFailure(Exception):
    """An application exchange (a protocol's first message, a transfer) that ended in a way no socket error
    names: an unexpected answer, a stall. Carries its failure string."""

    def __init__(self, failure: Failure, detail: str = "") -> None:
        super().__init__(detail or failure.value)
        self.failure = failure


_ADDRESS = re.compile(
    r"\[?[0-9a-fA-F]*:[0-9a-fA-F:.]+\]?(?::\d+)?"  # IPv6, possibly bracketed with a port
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPv4, possibly with a port
)


def scrub(text: str) -> str:
    """Remove addresses from free text: error messages can carry the probe's own address."""
    return _ADDRESS.sub("[scrubbed]", text)


def classify(exc: BaseException) -> str:
    """Map an exception (and the chain of causes behind it) to a failure string.

    The most specific cause wins: httpx and asyncio wrap OSError and ssl errors with `raise ... from`, so the
    chain is walked from the outermost exception inward and the first recognised one decides.
    """
    chain = _chain(exc)
    for cause in chain:
        failure = _classify_one(cause)
        if failure is not None:
            return failure.value
    for cause in chain:  # only now the catch-all of an HTTP library, when nothing below it said more
        if type(cause).__module__.startswith(("httpx", "httpcore")):
            return Failure.HTTP_REQUEST_FAILED.value
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return UNKNOWN_PREFIX + scrub(text)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _classify_one(exc: BaseException) -> Failure | None:
    if isinstance(exc, CertificateError | DNSFailure | ExchangeFailure):
        return exc.failure
    if isinstance(exc, TooLarge):
        return Failure.RESPONSE_TOO_LARGE
    if isinstance(exc, ssl.SSLError):
        return _classify_ssl(exc)
    if isinstance(exc, socket.gaierror):
        return GAI_FAILURES.get(exc.errno) if exc.errno is not None else None
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in ERRNO_FAILURES:
        return ERRNO_FAILURES[exc.errno]
    if isinstance(exc, TimeoutError):  # asyncio.timeout and wait_for raise it without an errno
        return Failure.GENERIC_TIMEOUT_ERROR
    if isinstance(exc, OSError) and type(exc) in _ERRNOLESS:  # raised by Python code, e.g. asyncio
        return _ERRNOLESS[type(exc)]
    if isinstance(exc, EOFError):
        return Failure.EOF_ERROR
    return _classify_foreign(exc)


_ERRNOLESS: dict[type[OSError], Failure] = {
    ConnectionRefusedError: Failure.CONNECTION_REFUSED,
    ConnectionResetError: Failure.CONNECTION_RESET,
    ConnectionAbortedError: Failure.CONNECTION_ABORTED,
    BrokenPipeError: Failure.CONNECTION_RESET,
}


def _classify_ssl(exc: ssl.SSLError) -> Failure:
    if isinstance(exc, ssl.SSLCertVerificationError):
        # OpenSSL X509_V_ERR_* codes: 62 hostname mismatch; 10 expired, 9 not yet valid;
        # 18/19/20/21 self-signed or unknown issuer.
        code = exc.verify_code
        if code == 62:
            return Failure.SSL_INVALID_HOSTNAME
        if code in (9, 10):
            return Failure.SSL_INVALID_CERTIFICATE
        return Failure.SSL_UNKNOWN_AUTHORITY
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return Failure.EOF_ERROR
    reason = (getattr(exc, "reason", None) or "").upper()  # an SSLError made in Python has no reason
    if "UNRECOGNIZED_NAME" in reason:  # alert 112 (RFC 6066 section 3): the server does not serve this name
        return Failure.SSL_INVALID_HOSTNAME
    if "ALERT" in reason:
        return Failure.SSL_ALERT_RECEIVED
    return Failure.SSL_FAILED_HANDSHAKE


def _classify_foreign(exc: BaseException) -> Failure | None:
    """Library exceptions that carry no OSError cause. Imported lazily: classify must not load httpx or
    dnspython into a process that never used them."""
    module = type(exc).__module__
    if module.startswith("dns"):
        return _classify_dnspython(exc)
    if module.startswith(("httpx", "httpcore", "h2")):
        return _classify_http(exc)
    return None


def _classify_dnspython(exc: BaseException) -> Failure | None:
    import dns.exception
    import dns.message
    import dns.query
    import dns.resolver

    if isinstance(exc, dns.resolver.NXDOMAIN):
        return Failure.DNS_NXDOMAIN_ERROR
    if isinstance(exc, dns.resolver.NoAnswer):
        return Failure.DNS_NO_ANSWER
    if isinstance(exc, dns.resolver.NoNameservers):
        return Failure.DNS_SERVFAIL_ERROR
    if isinstance(exc, dns.exception.Timeout):
        return Failure.GENERIC_TIMEOUT_ERROR
    if isinstance(exc, dns.query.UnexpectedSource):
        return Failure.DNS_SERVER_MISBEHAVING
    if isinstance(exc, dns.query.BadResponse):
        return Failure.DNS_REPLY_WITH_WRONG_QUERY_ID
    if isinstance(exc, dns.message.Truncated):
        return Failure.MESSAGE_SIZE
    if isinstance(exc, dns.exception.DNSException):  # FormError, ShortHeader, TooBig, BadLabelType, ...
        return Failure.DNS_SERVER_MISBEHAVING
    return None


def _classify_http(exc: BaseException) -> Failure | None:
    import h2.exceptions
    import httpcore
    import httpx

    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
        return Failure.GENERIC_TIMEOUT_ERROR
    if isinstance(exc, httpx.HTTPStatusError):
        return Failure.HTTP_UNEXPECTED_STATUS_CODE
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError | h2.exceptions.H2Error):
        # "Server disconnected without sending a response" and broken framing: the peer went away mid-exchange.
        return Failure.EOF_ERROR
    if isinstance(exc, httpx.InvalidURL | httpcore.UnsupportedProtocol):
        return Failure.INVALID_ARGUMENT
    return None  # other httpx/httpcore errors (ReadError, ProxyError...) say no more than their cause
