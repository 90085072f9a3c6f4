"""The failure classifier: one case per branch, in the order of the code, then exhaustiveness over every exception
type and errno the probe can meet (the lesson of httpx's test_httpcore_all_exceptions_mapped)."""

from __future__ import annotations

import errno
import inspect
import socket
import ssl

import dns.exception
import dns.message
import dns.query
import dns.resolver
import httpcore
import httpx
import pytest

from probe.failures import (
    ERRNO_FAILURES,
    UNKNOWN_PREFIX,
    CertificateError,
    DNSFailure,
    ExchangeFailure,
    Failure,
    classify,
    scrub,
)


def test_certificate_and_dns_errors_carry_their_failure() -> None:
    assert classify(CertificateError(Failure.SSL_UNKNOWN_AUTHORITY, "x")) == "ssl_unknown_authority"
    assert classify(DNSFailure(Failure.DNS_SERVFAIL_ERROR)) == "dns_servfail_error"
    assert classify(ExchangeFailure(Failure.UNEXPECTED_ANSWER, "not a resPQ")) == "unexpected_answer"
    assert classify(ExchangeFailure(Failure.TRANSFER_STALLED)) == "transfer_stalled"


@pytest.mark.parametrize(
    ("verify_code", "expected"),
    [(62, "ssl_invalid_hostname"), (10, "ssl_invalid_certificate"), (9, "ssl_invalid_certificate"),
     (20, "ssl_unknown_authority"), (19, "ssl_unknown_authority")],
)  # fmt: skip
def test_ssl_verification_codes(verify_code: int, expected: str) -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = verify_code
    assert classify(exc) == expected


def test_ssl_eof_alert_and_other() -> None:
    assert classify(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")) == "eof_error"
    assert classify(ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed")) == "eof_error"
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error")
    alert.reason = "TLSV1_ALERT_INTERNAL_ERROR"
    assert classify(alert) == "ssl_alert_received"
    unrecognized = ssl.SSLError(1, "[SSL: TLSV1_UNRECOGNIZED_NAME] tlsv1 unrecognized name")
    unrecognized.reason = "TLSV1_UNRECOGNIZED_NAME"
    assert classify(unrecognized) == "ssl_invalid_hostname"
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    wrong.reason = "WRONG_VERSION_NUMBER"
    assert classify(wrong) == "ssl_failed_handshake"


def test_getaddrinfo_errors() -> None:
    assert classify(socket.gaierror(socket.EAI_NONAME, "Name or service not known")) == "dns_nxdomain_error"
    assert classify(socket.gaierror(socket.EAI_AGAIN, "Temporary failure")) == "dns_temporary_failure"


def test_errno_wins_over_the_exception_type() -> None:
    # A TimeoutError raised by the kernel carries ETIMEDOUT; one raised by asyncio carries nothing.
    assert classify(TimeoutError(errno.ETIMEDOUT, "Connection timed out")) == "timed_out"
    assert classify(TimeoutError()) == "generic_timeout_error"
    assert classify(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == "connection_refused"
    assert classify(OSError(errno.ENETUNREACH, "Network is unreachable")) == "network_unreachable"
    assert classify(PermissionError(errno.EPERM, "Operation not permitted")) == "permission_denied"


def test_errnoless_connection_errors_from_python_code() -> None:
    assert classify(ConnectionResetError("Connection lost")) == "connection_reset"
    assert classify(ConnectionRefusedError()) == "connection_refused"
    assert classify(ConnectionAbortedError()) == "connection_aborted"
    assert classify(BrokenPipeError()) == "connection_reset"
    assert classify(EOFError()) == "eof_error"


def test_the_chain_of_causes_is_walked() -> None:
    try:
        try:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        except OSError as inner:
            raise httpx.ReadError("read failed") from inner
    except httpx.ReadError as outer:
        assert classify(outer) == "connection_reset"


def test_unknown_errors_are_prefixed_and_scrubbed() -> None:
    failure = classify(ValueError("cannot reach 192.168.1.20:8080 or [2001:db8::1]:53"))
    assert failure.startswith(UNKNOWN_PREFIX)
    assert "192.168" not in failure and "2001:db8" not in failure
    assert failure.count("[scrubbed]") == 2


def test_scrub_leaves_names_and_words_alone() -> None:
    assert scrub("timeout talking to example.org") == "timeout talking to example.org"
    assert scrub("from 10.0.0.1") == "from [scrubbed]"


# --- exhaustiveness ----------------------------------------------------------------------------------------------

# errnos the probe's sockets can raise on Linux (connect, send, recv, socket creation), per connect(2), send(2),
# recv(2) and socket(2); each must have its own name, not unknown_failure.
SOCKET_ERRNOS = [
    "EACCES", "EPERM", "EADDRINUSE", "EADDRNOTAVAIL", "EAFNOSUPPORT", "EAGAIN", "EALREADY", "EBADF",
    "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EFAULT", "EINPROGRESS", "EINTR", "EISCONN", "ENETUNREACH",
    "ENETDOWN", "ENETRESET", "ENOTSOCK", "EPROTOTYPE", "ETIMEDOUT", "EHOSTUNREACH", "EHOSTDOWN", "EMSGSIZE",
    "ENOBUFS", "ENOMEM", "ENOTCONN", "EPIPE", "EINVAL", "EPROTONOSUPPORT", "ENOPROTOOPT", "EDESTADDRREQ",
]  # fmt: skip


@pytest.mark.parametrize("name", SOCKET_ERRNOS)
def test_every_socket_errno_has_a_name(name: str) -> None:
    code = getattr(errno, name)
    assert code in ERRNO_FAILURES
    assert not classify(OSError(code, "x")).startswith(UNKNOWN_PREFIX)


def test_errno_table_uses_only_the_vocabulary() -> None:
    assert set(ERRNO_FAILURES.values()) <= set(Failure)


def _subclasses(module: object, base: type[BaseException]) -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, base) and obj.__module__.startswith(getattr(module, "__name__", "").split(".")[0])
    ]


def _new(cls: type[BaseException]) -> BaseException:
    """`cls()` through BaseException's typed constructor: dnspython leaves its exceptions' __init__ unannotated."""
    return cls()


def _instance(cls: type[BaseException]) -> BaseException:
    for args in ((), ("x",), ("x", None), (0,)):
        try:
            return cls(*args)
        except Exception:
            continue
    pytest.skip(f"cannot construct {cls}")  # pragma: no cover


@pytest.mark.parametrize("cls", _subclasses(httpx, httpx.HTTPError) + _subclasses(httpx, httpx.InvalidURL))
def test_every_httpx_exception_is_mapped(cls: type[BaseException]) -> None:
    if cls is httpx.HTTPStatusError:
        request = httpx.Request("GET", "https://192.0.2.1/")
        exc: BaseException = cls("x", request=request, response=httpx.Response(500, request=request))
    else:
        exc = _instance(cls)
    assert not classify(exc).startswith(UNKNOWN_PREFIX), cls


@pytest.mark.parametrize("cls", _subclasses(httpcore, Exception))
def test_every_httpcore_exception_is_mapped(cls: type[BaseException]) -> None:
    assert not classify(_instance(cls)).startswith(UNKNOWN_PREFIX), cls


# Sorted outside the decorator: inside, parametrize's `object` parameter would leave the sort key's argument untyped.
DNSPYTHON_EXCEPTIONS = sorted(
    {
        c
        for module in (dns.exception, dns.resolver, dns.message, dns.query)
        for c in _subclasses(module, dns.exception.DNSException)
    },
    key=lambda c: c.__qualname__,
)


@pytest.mark.parametrize("cls", DNSPYTHON_EXCEPTIONS)
def test_every_dnspython_exception_the_probe_can_meet_is_mapped(cls: type[BaseException]) -> None:
    assert not classify(_instance(cls)).startswith(UNKNOWN_PREFIX), cls


def test_dnspython_specific_names() -> None:
    assert classify(_new(dns.resolver.NXDOMAIN)) == "dns_nxdomain_error"
    assert classify(_new(dns.resolver.NoAnswer)) == "dns_no_answer"
    assert classify(_new(dns.exception.Timeout)) == "generic_timeout_error"
    assert classify(_new(dns.message.ShortHeader)) == "dns_server_misbehaving"


def test_httpx_specific_names() -> None:
    assert classify(httpx.ConnectTimeout("x")) == "generic_timeout_error"
    assert classify(httpx.RemoteProtocolError("Server disconnected")) == "eof_error"
