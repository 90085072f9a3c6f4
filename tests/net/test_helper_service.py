"""The control vantage's HTTP face (`probe.helper.app` under uvicorn) and the probe's client (`probe.net.helper`),
against each other over real loopback sockets: signed views accepted, other keys and oversized answers refused,
rate limits, deadlines, helpers tried in turn, and on-demand measurement limited to the published ids."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from probe import jsonlines, report
from probe.helper.app import HelperApp
from probe.helper.measurer import Measurer
from probe.helper.settings import HelperSettings
from probe.minisign import SecretKey
from probe.net import helper as client
from tests.dataset.servers import Socks

GOLDEN = Path(__file__).parent.parent / "golden" / "helper_service_down" / "measurements.jsonl"
KEY = SecretKey.generate()
OTHER = SecretKey.generate()


def _publish(state: Path, secret: SecretKey = KEY) -> tuple[HelperSettings, Measurer]:
    """A helper state folder holding a signed view of the golden scenario's entries."""
    settings = HelperSettings(state_dir=str(state), rate=1000, burst=1000)
    measured = [report.measured_from_line(line) for line in jsonlines.decode_lines(GOLDEN.read_bytes())]
    measurer = Measurer(settings, tuple(m.target for m in measured), secret)
    measurer.entries = {m.helper.id: m.helper for m in measured if m.helper is not None}
    settings.demand_dir.mkdir(parents=True)
    measurer.publish()
    return settings, measurer


@contextmanager
def serving(app: Any) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_signed_view_is_accepted_with_its_provenance(tmp_path: Path) -> None:
    settings, measurer = _publish(tmp_path)
    with serving(HelperApp(settings)) as url:
        answer = await client.fetch([url], [KEY.public_key()])
    assert answer.status == "ok" and answer.url == url and answer.reasons == ()
    assert set(answer.entries) == set(measurer.entries)
    entry = answer.entries["line.legy"]
    assert entry.helper_id == KEY.public_key().probe_id and entry.connections[0].failure == "connection_refused"


async def test_a_view_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    """A helper that lies: a view as good as the real one, signed by a key the probe was not configured with."""
    settings, _ = _publish(tmp_path, OTHER)
    with serving(HelperApp(settings)) as url:
        answer = await client.fetch([url], [KEY.public_key()])
    assert answer.status == "refused" and not answer.entries
    assert OTHER.public_key().key_id_hex in answer.reasons[0] and "not a configured helper key" in answer.reasons[0]


async def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    settings, _ = _publish(tmp_path)
    data = bytearray(settings.view_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    app = HelperApp(settings)
    app.current()  # the genuine pair is cached ...
    assert app.cached is not None
    settings.view_path.write_bytes(bytes(data))  # ... and a changed view without its signature is never taken
    assert app.current() is app.cached
    forged = _ForgedView(bytes(data), app.cached.signature)
    with serving(forged) as url:
        answer = await client.fetch([url], [KEY.public_key()])
    assert answer.status == "refused" and "not what this key signed" in answer.reasons[0]


class _ForgedView:
    """Serves fixed bytes with a fixed signature header (what a man in the middle could send)."""

    def __init__(self, body: bytes, signature: bytes) -> None:
        self.body, self.signature = body, signature

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"helper-signature", self.signature), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


async def test_the_answer_is_capped_and_the_view_compressed(tmp_path: Path) -> None:
    settings, _ = _publish(tmp_path)
    with serving(HelperApp(settings)) as url:
        capped = await client.fetch([url], [KEY.public_key()], max_bytes=1000)
        async with httpx.AsyncClient() as raw:
            zipped = await raw.get(url + "/v1/view", headers={"accept-encoding": "gzip"})
            plain = await raw.get(url + "/v1/view", headers={"accept-encoding": "identity"})
    assert capped.status == "refused" and "1000 bytes" in capped.reasons[0]
    assert zipped.headers["content-encoding"] == "gzip" and int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.content == plain.content == settings.view_path.read_bytes()


async def test_helpers_are_tried_in_turn_within_one_deadline(tmp_path: Path) -> None:
    settings, _ = _publish(tmp_path)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts (the kernel does) and never answers
    quiet = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        with serving(HelperApp(settings)) as url:
            answer = await client.fetch([_closed_port(), url], [KEY.public_key()])
            started = time.monotonic()
            stuck = await client.fetch([quiet, url], [KEY.public_key()], timeout=5, deadline=0.5)
            took = time.monotonic() - started
    finally:
        silent.close()
    assert answer.status == "ok" and answer.url == url
    assert answer.reasons[0].endswith("unreachable: connection_refused")
    assert stuck.status == "unreachable" and took < 2
    assert "unreachable" in stuck.reasons[0] and "not asked" in stuck.reasons[1]


async def test_callers_are_rate_limited(tmp_path: Path) -> None:
    settings, _ = _publish(tmp_path)
    strict = HelperSettings(state_dir=settings.state_dir, rate=0.01, burst=2)
    with serving(HelperApp(strict)) as url:
        answers = [await client.fetch([url], [KEY.public_key()]) for _ in range(3)]
        async with httpx.AsyncClient() as raw:
            limited = await raw.get(url + "/v1/view")
    assert [a.status for a in answers] == ["ok", "ok", "unreachable"]
    assert answers[2].reasons[0].endswith("unreachable: HTTP 429")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_the_limit_is_per_caller(tmp_path: Path) -> None:
    """One caller over its limit does not hold back another (a probe behind the same censor, a Tor exit)."""
    settings, _ = _publish(tmp_path)
    strict = HelperSettings(state_dir=settings.state_dir, rate=0.01, burst=1)
    with serving(HelperApp(strict)) as url:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.1")) as one:
            first = [(await one.get(url + "/v1/view")).status_code for _ in range(2)]
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")) as other:
            second = (await other.get(url + "/v1/view")).status_code
    assert first == [200, 429] and second == 200


class _Recording:
    """The helper's HTTP face, keeping every request it received (scope and body)."""

    def __init__(self, app: HelperApp) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await receive()
        self.seen.append({"scope": scope, "body": body.get("body", b"")})

        async def again() -> Any:
            return body

        await self.app(scope, again, send)


async def test_the_request_says_nothing_about_the_probe(tmp_path: Path) -> None:
    settings, _ = _publish(tmp_path)
    recording = _Recording(HelperApp(settings))
    with serving(recording) as url:
        answer = await client.fetch([url + "/"], [KEY.public_key()])
    assert answer.status == "ok"
    [request] = recording.seen
    headers = {k.decode(): v.decode() for k, v in request["scope"]["headers"]}
    assert request["scope"]["method"] == "GET" and request["scope"]["path"] == "/v1/view"
    assert request["scope"]["query_string"] == b"" and request["body"] == b""
    assert set(headers) <= {"host", "accept", "accept-encoding", "connection", "user-agent"}
    assert headers["user-agent"] == client.USER_AGENT


@pytest.mark.lab
async def test_the_helper_is_asked_through_the_socks5_proxy(tmp_path: Path) -> None:
    """As uploads are (Tor: the helper never learns the volunteer's address): a real SOCKS5 server carries the
    request; with the proxy gone, the helper is unreachable and nothing goes to it directly."""
    settings, _ = _publish(tmp_path)
    recording = _Recording(HelperApp(settings))
    proxy = Socks(tmp_path)
    with serving(recording) as url:
        proxy.start()
        try:
            answer = await client.fetch([url], [KEY.public_key()], proxy=proxy.url)
        finally:
            proxy.stop()
        without = await client.fetch([url], [KEY.public_key()], proxy=proxy.url)
    assert answer.status == "ok", answer.reasons
    assert f"connected to {url.removeprefix('http://')}" in proxy.log_text()  # the proxy carried it
    assert without.status == "unreachable" and len(recording.seen) == 1  # nothing went direct


async def test_on_demand_measures_only_published_ids(tmp_path: Path) -> None:
    settings, measurer = _publish(tmp_path)
    with serving(HelperApp(settings)) as url:
        async with httpx.AsyncClient() as raw:
            unknown = await raw.post(url + "/v1/measure", json={"ids": ["line.legy", "evil.example.com"]})
            garbled = await raw.post(url + "/v1/measure", content=b"ids=line.legy")
            queued = await raw.post(url + "/v1/measure", json={"ids": ["line.legy"]})
            health = await raw.get(url + "/health")
    assert unknown.status_code == 422 and "evil.example.com" in unknown.json()["reason"]
    assert garbled.status_code == 400
    assert queued.status_code == 202 and queued.json()["ids"] == ["line.legy"]
    assert health.json()["status"] == "ok"
    assert measurer.take_demands() == {"line.legy"}
    assert measurer.take_demands() == set()  # each demand is taken once


async def test_before_the_first_round_the_helper_says_so(tmp_path: Path) -> None:
    settings = HelperSettings(state_dir=str(tmp_path))
    with serving(HelperApp(settings)) as url:
        answer = await client.fetch([url], [KEY.public_key()])
        async with httpx.AsyncClient() as raw:
            health = await raw.get(url + "/health")
    assert answer.status == "unreachable" and answer.reasons[0].endswith("HTTP 503")
    assert health.status_code == 503


def test_the_view_document_is_json_with_the_entries(tmp_path: Path) -> None:
    settings, measurer = _publish(tmp_path)
    document = json.loads(settings.view_path.read_bytes())
    assert [e["id"] for e in document["endpoints"]] == list(measurer.entries)


@pytest.mark.parametrize("bad", ["not base64!", ""])
async def test_a_garbled_signature_header_is_refused(tmp_path: Path, bad: str) -> None:
    settings, _ = _publish(tmp_path)
    with serving(_ForgedView(settings.view_path.read_bytes(), bad.encode())) as url:
        answer = await client.fetch([url], [KEY.public_key()])
    assert answer.status == "refused" and "Helper-Signature" in answer.reasons[0]


def test_the_helper_keeps_its_results_folder_within_bounds(tmp_path: Path) -> None:
    settings, measurer = _publish(tmp_path)
    old = settings.state / "results" / "2020-01-01" / "old.jsonl"
    new = settings.state / "results" / "2026-11-28" / "new.jsonl"
    for path in (old, new):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"{}\n")
        path.with_name(path.name + ".minisig").write_bytes(b"sig")
    os.utime(old, (0, 0))
    os.utime(new, (0, 0))  # as old as the other, but the round just wrote it: it stays
    measurer.prune(new)
    assert not old.exists() and not old.with_name("old.jsonl.minisig").exists()
    assert new.exists()


def test_a_demand_being_written_is_left_for_later(tmp_path: Path) -> None:
    settings, measurer = _publish(tmp_path)
    temporary = settings.demand_dir / ".abc.json.x1y2.tmp"  # atomicfile's temporary name, before its rename
    temporary.write_bytes(b'{"ids": ["line.legy"]}')
    assert measurer.take_demands() == set()
    assert temporary.exists()
