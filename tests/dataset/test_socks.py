"""Uploads through a SOCKS5 proxy (how a volunteer reaches the collector over Tor): a real SOCKS5 server (Debian's
microsocks) on loopback carries the upload; with the proxy gone, the upload waits rather than going direct."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.local.spool import Spool
from probe.local.upload import Uploader, drain
from probe.minisign import SecretKey
from tests.dataset.files import make_file
from tests.dataset.servers import Collector, Socks


@pytest.mark.lab
def test_upload_goes_through_the_socks5_proxy(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    proxy = Socks(tmp_path)
    spool = Spool(tmp_path / "spool")
    for _ in range(2):
        signed = make_file(secret)
        spool.seal(signed.data, signed.signature, signed.name, secret.public_key().to_base64())
    uploader = Uploader(collector.url, proxy=proxy.url)
    proxy.start()
    try:
        report = drain(spool, uploader, budget=30)
    finally:
        proxy.stop()
    assert report.delivered == 2, report
    assert f"connected to 127.0.0.1:{collector.port}" in proxy.log_text()  # the proxy carried it
    signed = make_file(secret)
    spool.seal(signed.data, signed.signature, signed.name, secret.public_key().to_base64())
    without = drain(spool, uploader, budget=30)  # the proxy is gone: nothing goes direct, the file waits
    assert without.delivered == 0 and without.remaining == 1
    assert without.last_error is not None and without.last_error.startswith("network")
