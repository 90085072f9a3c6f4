"""Asking the control vantage (`probe helper serve`) for its view: once per run, one GET for every endpoint.

The request carries nothing about the volunteer: no body, no query string, no address, a fixed User-Agent; it goes
through the same SOCKS proxy as uploads, so with Tor the helper does not learn the volunteer's address either. The
helper URLs are tried in turn within one overall deadline; an answer is read up to `MAX_VIEW_BYTES` (after
decompression) and must carry a minisign signature by one of the configured keys over a view, else it is refused.
A helper that cannot be reached, or is refused, is a fact about the vantage point, never evidence against a target.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from probe import minisign, signing
from probe.failures import classify
from probe.helperview import FILE_NAME, MAX_VIEW_BYTES, SIGNATURE_HEADER, ViewError, decode
from probe.model import HelperEndpoint

USER_AGENT = "probe-helper-client/1"  # no version: nothing that tells one volunteer's probe from another's
MAX_SIGNATURE_BYTES = 4096  # a .minisig with the longest trusted comment minisign allows is under 12 kB encoded
VIEW_PATH = "/v1/view"


@dataclass(frozen=True)
class HelperAnswer:
    """What asking the helpers came to. `status`: ok, unreachable (no helper answered), refused (an answer came but
    was not a view signed by a configured key), or off (no helper configured, or --no-helper)."""

    status: str
    reasons: tuple[str, ...] = ()  # one per helper that did not serve: "URL: what went wrong"
    url: str | None = None  # the helper whose view was taken
    entries: Mapping[str, HelperEndpoint] = field(default_factory=dict)  # endpoint id -> entry


OFF = HelperAnswer("off")


class _Unavailable(Exception):
    """The helper answered, but not with its view (busy, rate-limited, no view yet): try the next one."""


class _Refused(Exception):
    """An answer that is not a signed view (the helper spoke, but what it said cannot be used)."""


async def fetch(
    urls: Sequence[str],
    keys: Sequence[minisign.PublicKey],
    *,
    proxy: str | None = None,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 5.0,
    deadline: float = 15.0,
    max_bytes: int = MAX_VIEW_BYTES,
) -> HelperAnswer:
    """Ask each helper in turn for its view until one serves a view signed by one of `keys`."""
    if not urls:
        return OFF
    reasons: list[str] = []
    refused = False
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with httpx.AsyncClient(
        proxy=proxy,
        verify=verify,
        timeout=timeout,
        trust_env=False,  # only the configured proxy, never one from the environment
        follow_redirects=False,  # a redirect would send the request somewhere the volunteer did not choose
        headers={"User-Agent": USER_AGENT},
    ) as client:
        for url in urls:
            left = end - loop.time()
            if left <= 0:
                reasons.append(f"{url}: not asked (the {deadline:g} s deadline had passed)")
                continue
            try:
                async with asyncio.timeout(left):
                    data, minisig = await _get(client, url.rstrip("/") + VIEW_PATH, max_bytes)
                entries = _verified(data, minisig, keys)
            except _Unavailable as exc:
                reasons.append(f"{url}: unreachable: {exc}")
                continue
            except _Refused as exc:
                refused = True
                reasons.append(f"{url}: refused: {exc}")
                continue
            except Exception as exc:  # httpx, the proxy, ssl, the deadline: every one means "not reached"
                reasons.append(f"{url}: unreachable: {classify(exc)}")
                continue
            return HelperAnswer("ok", tuple(reasons), url, entries)
    return HelperAnswer("refused" if refused else "unreachable", tuple(reasons))


async def _get(client: httpx.AsyncClient, url: str, max_bytes: int) -> tuple[bytes, bytes]:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise _Unavailable(f"HTTP {response.status_code}")
        header = response.headers.get(SIGNATURE_HEADER, "")
        if not header or len(header) > MAX_SIGNATURE_BYTES:
            raise _Refused(f"no {SIGNATURE_HEADER} header (or one too long)")
        try:
            minisig = base64.b64decode(header, validate=True)
        except binascii.Error:
            raise _Refused(f"the {SIGNATURE_HEADER} header is not base64") from None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes and "content-encoding" not in response.headers:
            raise _Refused(f"the view is {declared} bytes, more than the {max_bytes} a probe reads")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():  # decompressed: the cap holds against a compression bomb
            size += len(chunk)
            if size > max_bytes:
                raise _Refused(f"the view is over {max_bytes} bytes, the most a probe reads")
            chunks.append(chunk)
    return b"".join(chunks), minisig


def _verified(data: bytes, minisig: bytes, keys: Sequence[minisign.PublicKey]) -> dict[str, HelperEndpoint]:
    """The view's entries, when a configured key signed exactly these bytes as a view."""
    try:
        key_id = minisign.parse(minisig).key_id
    except minisign.MinisignError as exc:
        raise _Refused(f"not a minisign signature ({exc})") from None
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        raise _Refused(
            f"signed by key {minisign.key_id_hex(key_id)}, which is not a configured helper key "
            f"({', '.join(k.key_id_hex for k in keys) or 'none configured'})"
        )
    try:
        pairs = signing.verify_result(data, minisig, key)
    except minisign.SignatureError as exc:
        raise _Refused(str(exc)) from None
    if pairs.get("file") != FILE_NAME:
        raise _Refused(f"the signature is for {pairs.get('file')!r}, not a helper's view")
    try:
        return decode(data, key.probe_id)
    except ViewError as exc:
        raise _Refused(f"not a view: {exc}") from None
