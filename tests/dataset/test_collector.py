"""The collector as a user runs it (`probe collector serve`, a real process on loopback) answers each kind of
upload with the contract's status, stores accepted files verbatim and content-addressed, and stores nothing when
it refuses."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx

from probe import signing
from probe.collector import layout
from probe.collector.ingest import INLINE_BYTES
from probe.collector.store import FileStore
from probe.minisign import PublicKey, SecretKey
from tests.dataset.files import SignedFile, make_file, make_lines, sign_lines
from tests.dataset.servers import Collector, running


def put(
    url: str,
    signed: SignedFile,
    public: PublicKey | None,
    *,
    sha: str | None = None,
    body: bytes | None = None,
    signature: bytes | None = None,
) -> httpx.Response:
    headers = {"Probe-Signature": base64.b64encode(signature if signature is not None else signed.signature).decode()}
    if public is not None:
        headers["Probe-Public-Key"] = public.to_base64()
    return httpx.put(
        f"{url}/v1/results/{sha or signed.sha256}",
        content=signed.data if body is None else body,
        headers=headers,
        timeout=10,
    )


def raw_objects(store: Path) -> list[str]:
    return [k for k in FileStore(store).keys(layout.RAW_PREFIX)]


def test_accepts_stores_verbatim_and_pins_the_key(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    signed = make_file(secret)
    public = secret.public_key()
    response = put(collector.url, signed, public)
    assert response.status_code == 201, response.text
    day = signed.data.split(b'"test_start_time":"', 1)[1][:10].decode()
    store = FileStore(tmp_path / "store")
    assert store.get(layout.raw_body(day, signed.sha256)) == signed.data
    assert store.get(layout.raw_signature(day, signed.sha256)) == signed.signature
    pinned = store.get(layout.public_key(public.probe_id))
    assert pinned is not None and PublicKey.from_file(pinned) == public
    assert response.json()["measurements"] == signed.data.count(b"\n")
    # The key is known now: an upload without the header is verified against the pinned key.
    second = make_file(secret)
    assert put(collector.url, second, None).status_code == 201


def test_a_file_too_large_to_check_on_the_event_loop_is_checked_in_a_thread_alike(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    """Files over INLINE_BYTES (a long run) are checked off the event loop: the same verdicts, stored verbatim."""
    lines = make_lines()
    many = [{**line, "id": f"{n}-{line['id']}"} for n in range(12) for line in lines]
    signed = sign_lines(many, secret)
    assert len(signed.data) > INLINE_BYTES
    response = put(collector.url, signed, secret.public_key())
    assert response.status_code == 201, response.text
    assert response.json()["measurements"] == len(many)
    day = signed.data.split(b'"test_start_time":"', 1)[1][:10].decode()
    assert FileStore(tmp_path / "store").get(layout.raw_body(day, signed.sha256)) == signed.data
    leaked = sign_lines([*many[:-1], {**many[-1], "probe_ip": "198.51.100.7"}], secret)
    refused = put(collector.url, leaked, secret.public_key())
    assert refused.status_code == 422 and refused.json()["code"] == "measurement", refused.text


def test_health(collector: Collector) -> None:
    response = httpx.get(collector.url + "/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_serve_says_where_it_listens_and_which_store(collector: Collector) -> None:
    assert f"listening on {collector.url} (1 worker), store {collector.store}" in collector.log_text()


def test_refusals_have_the_contracts_status_and_store_nothing(
    collector: Collector, secret: SecretKey, tmp_path: Path
) -> None:
    public = secret.public_key()
    signed = make_file(secret)
    other = SecretKey.generate()
    cases = {
        "no signature header": (400, httpx.put(f"{collector.url}/v1/results/{signed.sha256}", content=signed.data)),
        "not a sha256": (400, put(collector.url, signed, public, sha="abc")),
        "sha256 of other bytes": (400, put(collector.url, signed, public, sha=hashlib.sha256(b"x").hexdigest())),
        "truncated body": (400, put(collector.url, signed, public, body=signed.data[: len(signed.data) // 2])),
        "signature not base64": (
            400,
            httpx.put(
                f"{collector.url}/v1/results/{signed.sha256}", content=signed.data, headers={"Probe-Signature": "%%%"}
            ),
        ),
        "signed by another key": (
            422,
            put(collector.url, signed, public, signature=signing.sign_result(signed.data, signed.name, other)),
        ),
        "header key is not the signer": (422, put(collector.url, signed, other.public_key())),
        "unknown probe, no key sent": (403, put(collector.url, signed, None)),
        "garbled public key": (
            400,
            httpx.put(
                f"{collector.url}/v1/results/{signed.sha256}",
                content=signed.data,
                headers={"Probe-Signature": base64.b64encode(signed.signature).decode(), "Probe-Public-Key": "RWnope"},
            ),
        ),
    }
    for name, (status, response) in cases.items():
        assert response.status_code == status, (name, response.text)
        assert response.json()["status"] == "refused" and response.json()["reason"], name
    assert raw_objects(tmp_path / "store") == []


def test_content_is_judged_not_only_the_signature(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    public = secret.public_key()
    bad: dict[str, list[dict[str, object]] | bytes] = {}
    lines = make_lines()
    bad["garbage JSON"] = b"this is not json\n{\n"
    bad["empty"] = b""
    bad["probe ip leaked"] = [{**lines[0], "probe_ip": "198.51.100.7"}, *lines[1:]]
    bad["other test"] = [{**lines[0], "test_name": "web_connectivity"}, *lines[1:]]
    bad["time in the future"] = [{**lines[0], "measurement_start_time": "2999-01-01 00:00:00"}, *lines[1:]]
    bad["time garbled"] = [{**lines[0], "test_start_time": "yesterday"}, *lines[1:]]
    bad["two runs in one file"] = [lines[0], {**lines[1], "report_id": "another"}]
    bad["not an object"] = b"[1, 2, 3]\n"
    for name, content in bad.items():
        if isinstance(content, bytes):
            data = content
            signed = SignedFile("x.jsonl", data, signing.sign_result(data, "x.jsonl", secret))
        else:
            signed = sign_lines(content, secret)
        response = put(collector.url, signed, public)
        assert response.status_code == 422, (name, response.text)
    assert raw_objects(tmp_path / "store") == []


def test_oversized_body_is_refused_with_413(tmp_path: Path, secret: SecretKey) -> None:
    signed = make_file(secret)
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--max-bytes", str(len(signed.data) - 1)])) as c:
        response = put(c.url, signed, secret.public_key())
        assert response.status_code == 413, response.text
        # Without Content-Length (chunked), the limit holds while reading.
        chunks = (signed.data[i : i + 1000] for i in range(0, len(signed.data), 1000))
        streamed = httpx.put(
            f"{c.url}/v1/results/{signed.sha256}",
            content=chunks,
            headers={
                "Probe-Signature": base64.b64encode(signed.signature).decode(),
                "Probe-Public-Key": secret.public_key().to_base64(),
            },
        )
        assert streamed.status_code == 413
    assert raw_objects(tmp_path / "store") == []


def test_revoked_probe_is_refused_with_403(collector: Collector, secret: SecretKey, tmp_path: Path) -> None:
    public = secret.public_key()
    FileStore(tmp_path / "store").put_new(layout.revoked(public.probe_id), b"key leaked")
    response = put(collector.url, make_file(secret), public)
    assert response.status_code == 403 and "revoked" in response.json()["reason"]


def test_per_probe_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    one, two = SecretKey.generate(), SecretKey.generate()
    with running(Collector(str(tmp_path / "store"), tmp_path, args=["--rate", "0.01", "--burst", "2"])) as c:
        codes = [put(c.url, make_file(one), one.public_key()).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        limited = put(c.url, make_file(one), one.public_key())
        assert int(limited.headers["retry-after"]) >= 1
        assert put(c.url, make_file(two), two.public_key()).status_code == 201  # another probe is not affected
