"""Collector ingest rate against the two limits that bound it, measured in the same run on the same machine.

Run: .venv/bin/python -m bench.ingest [--clients 64] [--uploads 2048] [--rounds 3] [--workers N] [--stores file,s3]
     [--folder DIR]

`--folder` puts the folder store on the file system a collector would use (default: the system's temp folder): the
store's limit is a property of that file system, not of the collector (see docs/dataset.md "Ingest benchmark").

For each store (the local folder, and a real SeaweedFS started on loopback), prints:
- the limit of the checks: Ed25519 verifications/s (one core, raw), and whole-file verifications/s (`verify_result`:
  sha256, BLAKE2b-512, two Ed25519 checks) for the benchmark's file, times the cores;
- the limit of the store: durable writes/s (`put_new` of a file-sized object, 64 threads), and uploads' writes/s
  (a signature and a body each, written as the collector writes them: the store's ceiling for uploads);
- the ingest rate of a real `probe collector serve` with 64 concurrent uploading clients (one probe key each, rate
  limit off): uploads/s, measurements/s, p50/p99 latency, and its ratio to the slower of the checks' limit and the
  uploads' writes/s (target >= 0.5);
- the ingest rate of the same collector with its writes skipped (`bench.skipwrites`), and how busy the cores were
  while the store wrote. The collector and the store share the cores: with R the ingest without writes, C the
  uploads' writes/s and b the share of the cores the store kept busy at C, an upload costs the cores 1/R for the
  collector and b/C for its writes, so the ratio can reach at most R / (C + b R). When the writes are all CPU work
  (b = 1, a disk that acknowledges flushes at once) that is R / (R + C), and the target needs R >= C: the collector
  without its writes at least as fast as the store alone. When they wait on the disk (b small), it nears R / C.
Each store gets `--rounds` rounds (the store's limit, an ingest run, the limit again), each with files of its own,
and the figures of the median round: on a shared virtual machine one run can be a third off the next.
The clients run in this process (asyncio, hand-written HTTP/1.1), on the same cores as the collector: the figures
are a floor. Run it on a quiet machine: other load on the cores shows up directly in the ingest rate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from probe import signing
from probe.collector.ingest import write_upload
from probe.collector.store import Store, open_store
from probe.minisign import SecretKey
from tests.dataset.files import SignedFile, make_file
from tests.dataset.servers import Collector, SeaweedFS


def rate(action: Callable[[], object], seconds: float = 2.0) -> float:
    """Calls per second of `action` on one thread."""
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - start)


def verification_limits(sample: SignedFile, secret: SecretKey) -> tuple[float, float]:
    from nacl.signing import SigningKey

    key = SigningKey.generate()  # libsodium, as the collector's checks
    message = hashlib.blake2b(sample.data, digest_size=64).digest()
    signature = key.sign(message).signature
    public = key.verify_key
    raw = rate(lambda: public.verify(message, signature))
    probe_key = secret.public_key()
    whole = rate(lambda: signing.verify_result(sample.data, sample.signature, probe_key))
    return raw, whole


def write_limit(store: Store, size: int, threads: int, count: int) -> float:
    """Durable, conditional writes per second of `size`-byte objects with `threads` writers."""
    payloads = [os.urandom(size) for _ in range(min(count, 64))]
    run = f"bench-writes/{os.getpid()}-{time.monotonic_ns()}"
    return per_second(lambda n: store.put_new(f"{run}/{n}", payloads[n % len(payloads)]), threads, count)


def upload_write_limit(store: Store, signature_size: int, size: int, threads: int, count: int) -> float:
    """Uploads' writes per second: a signature and a body each, written exactly as the collector writes them
    (`write_upload`), with `threads` writers. This, not half the raw write rate, is what the store allows uploads:
    the collector makes the signature's name durable with the body's folder sync, one fsync fewer than two writes."""
    signatures = [os.urandom(signature_size) for _ in range(min(count, 64))]
    payloads = [os.urandom(size) for _ in range(min(count, 64))]
    day = f"bench-uploads-{os.getpid()}-{time.monotonic_ns()}"

    def write(n: int) -> bool:
        address = hashlib.sha256(n.to_bytes(8, "big") + day.encode()).hexdigest()
        return write_upload(store, day, address, signatures[n % len(signatures)], payloads[n % len(payloads)])

    return per_second(write, threads, count)


def per_second(write: Callable[[int], bool], threads: int, count: int) -> float:
    """`write(n)` for n in range(count) on `threads` threads, per second; every write must create its object."""
    with ThreadPoolExecutor(threads) as pool:
        # Warm-up, untimed: a fresh store allocates its first volumes (SeaweedFS) and folders on the first writes.
        list(pool.map(write, range(count, count + count // 4)))
        start = time.perf_counter()
        created = sum(pool.map(write, range(count)))
    elapsed = time.perf_counter() - start
    assert created == count
    return count / elapsed


def requests(url: str, uploads: list[tuple[SignedFile, str]]) -> list[bytes]:
    """Every upload as the exact bytes of its HTTP/1.1 request, made before the clock starts: the load generator
    shares the cores with the collector, so the less it does while measured, the truer the figure."""
    host = url.removeprefix("http://")
    made = []
    for signed, key in uploads:
        head = (
            f"PUT /v1/results/{signed.sha256} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(signed.data)}\r\nContent-Type: application/x-ndjson\r\n"
            f"Probe-Signature: {base64.b64encode(signed.signature).decode()}\r\n"
            f"Probe-Public-Key: {key}\r\n\r\n"
        )
        made.append(head.encode() + signed.data)
    return made


async def ingest(url: str, prepared: list[bytes], clients: int) -> tuple[float, list[float], int]:
    """(elapsed seconds, latencies, statuses other than 201) of `clients` concurrent uploaders, each on its own
    keep-alive connection, sending the `prepared` requests. HTTP/1.1 by hand over asyncio streams: a full client
    library would spend more of the shared cores than the collector it is measuring."""
    host, port = url.removeprefix("http://").split(":")
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in prepared:
        queue.put_nowait(request)
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                try:
                    request = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                failures += head[9:12] != b"201"  # "HTTP/1.1 201 Created"
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, latencies, failures


def run_clients(url: str, prepared: list[bytes], clients: int) -> tuple[float, list[float], int]:
    """`ingest` on uvloop (a fifth less CPU per request than asyncio's own loop, left to the collector)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(ingest(url, prepared, clients))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def cores_busy() -> Iterator[list[float]]:
    """The share of the machine's cores busy (not idle, not waiting on I/O) while the block runs, from /proc/stat
    (Linux), in the list it yields once the block is done. Time a virtual machine's host took (steal) is left
    out of both sides."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
        user, nice, system, idle, iowait, irq, softirq = fields  # steal (8th) counts on neither side
        return user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq

    share: list[float] = []
    busy_before, total_before = sample()
    yield share
    busy_after, total_after = sample()
    share.append((busy_after - busy_before) / max(1, total_after - total_before))


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes of a process group, from /proc (Linux)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ..., utime (11), stime (12)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Round:
    """One ingest run and the store's limit measured just before and just after it."""

    writes_before: float  # durable writes/s
    writes_after: float
    upload_writes_before: float  # uploads' writes (signature and body)/s
    upload_writes_after: float
    busy_before: float  # share of the cores busy while the uploads' writes were measured
    busy_after: float
    uploads: float  # per second
    measurements: float  # per second
    p50: float  # seconds
    p99: float
    failures: int
    collector_ms: float  # CPU per upload
    client_ms: float
    unwritten: float  # uploads/s of the collector whose writes are skipped
    unwritten_ms: float  # its CPU per upload
    unwritten_busy: float  # share of the cores busy meanwhile

    # A file system's speed drifts with what else it did lately (ext4 without a journal skips recently freed inodes,
    # for one): of each limit, the higher of the two measurements counts.
    @property
    def writes(self) -> float:
        return max(self.writes_before, self.writes_after)

    @property
    def upload_writes(self) -> float:
        return max(self.upload_writes_before, self.upload_writes_after)

    @property
    def busy(self) -> float:
        """How busy the cores were in the measurement of the uploads' writes that counts."""
        return self.busy_before if self.upload_writes_before >= self.upload_writes_after else self.busy_after

    @property
    def bound(self) -> float:
        """The most ingest / uploads' writes can be when the collector's work and its writes share the cores (their
        costs add): R / (C + b R), see the module's docstring."""
        return self.unwritten / (self.upload_writes + self.busy * self.unwritten)


def ingest_round(collector: Collector, unwriting: Collector, store: Store, files: list[tuple[SignedFile, str]],
                 options: argparse.Namespace) -> Round:  # fmt: skip
    assert collector.popen is not None and unwriting.popen is not None
    size, signature_size = len(files[0][0].data), len(files[0][0].signature)

    def limits() -> tuple[float, float, float]:
        writes = write_limit(store, size, options.clients, options.writes)
        with cores_busy() as busy:
            upload_writes = upload_write_limit(store, signature_size, size, options.clients, options.writes // 2)
        return writes, upload_writes, busy[0]

    writes_before, upload_writes_before, busy_before = limits()
    prepared = requests(collector.url, files)
    cpu_before, client_before = group_cpu_seconds(collector.popen.pid), os.times()
    elapsed, latencies, failures = run_clients(collector.url, prepared, options.clients)
    cpu_after, client_after = group_cpu_seconds(collector.popen.pid), os.times()
    # The same files again, to the collector that skips its writes: each is new to it, and answered 201.
    prepared = requests(unwriting.url, files)
    unwriting_before = group_cpu_seconds(unwriting.popen.pid)
    with cores_busy() as unwritten_busy:
        unwritten_elapsed, _, unwritten_failures = run_clients(unwriting.url, prepared, options.clients)
    unwriting_after = group_cpu_seconds(unwriting.popen.pid)
    writes_after, upload_writes_after, busy_after = limits()
    return Round(
        writes_before=writes_before,
        writes_after=writes_after,
        upload_writes_before=upload_writes_before,
        upload_writes_after=upload_writes_after,
        busy_before=busy_before,
        busy_after=busy_after,
        uploads=len(files) / elapsed,
        measurements=sum(s.data.count(b"\n") for s, _ in files) / elapsed,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        failures=failures + unwritten_failures,
        collector_ms=(cpu_after - cpu_before) * 1000 / len(files),
        client_ms=(sum(client_after[:2]) - sum(client_before[:2])) * 1000 / len(files),
        unwritten=len(files) / unwritten_elapsed,
        unwritten_ms=(unwriting_after - unwriting_before) * 1000 / len(files),
        unwritten_busy=unwritten_busy[0],
    )


def bench_store(name: str, spec: str, args: list[str], endpoint: str | None, work: Path, options: argparse.Namespace,
                rounds: list[list[tuple[SignedFile, str]]], secrets: list[SecretKey]) -> None:  # fmt: skip
    sample = rounds[0][0][0]
    raw, whole = verification_limits(sample, secrets[0])
    store = open_store(spec, endpoint)
    collector_args = [*args, "--workers", str(options.workers), "--rate", "0"]
    collector = Collector(spec, work, args=collector_args)
    # `python -m bench.skipwrites` from wherever the collector starts: the repository on the path.
    path = [str(REPOSITORY), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    unwriting = Collector(spec, work, args=collector_args, env=environment, module="bench.skipwrites")
    collector.start()
    try:
        unwriting.start()
        try:
            # Each round uploads files of its own: a file seen before would be a duplicate, answered unwritten.
            results = [ingest_round(collector, unwriting, store, files, options) for files in rounds]
        finally:
            unwriting.stop()
    finally:
        collector.stop()
    cores = os.cpu_count() or 1
    checks_limit = whole * cores  # CPU-bound: the cores bound it, whatever the number of workers

    def ceiling(result: Round) -> float:
        return min(checks_limit, result.upload_writes)

    per_file = sample.data.count(b"\n")
    print(
        f"\n== store: {name}\n   {options.workers} collector workers, {options.clients} clients, {len(rounds)} rounds"
        f" of {len(rounds[0])} uploads of {len(sample.data) / 1000:.0f} kB, {per_file} measurements"
        " each"
    )
    for number, result in enumerate(results, start=1):
        print(
            f"   round {number}: uploads' writes/s {result.upload_writes_before:.0f} before,"
            f" {result.upload_writes_after:.0f} after; ingest {result.uploads:.0f} uploads/s;"
            f" ratio {result.uploads / ceiling(result):.2f}; without writes {result.unwritten:.0f} uploads/s,"
            f" bound {result.bound:.2f}"
        )
    ranked = sorted(results, key=lambda result: result.uploads / ceiling(result))
    ratios = [result.uploads / ceiling(result) for result in ranked]
    median = ranked[len(ranked) // 2]
    print("   the median round:")
    row("Ed25519 verifications/s (one core)", f"{raw:.0f}", "an upload needs 2")
    row("whole-file verifications/s (one core)", f"{whole:.0f}", f"x{cores} cores: {checks_limit:.0f} uploads/s")
    row(f"durable writes/s ({options.clients} writers)", f"{median.writes:.0f}", "an upload needs 2")
    row(
        f"uploads' writes/s ({options.clients} writers)",
        f"{median.upload_writes:.0f}",
        f"signature and body, as the collector writes them ({median.upload_writes * 2 / median.writes:.2f}x half"
        " the writes/s)",
    )
    row("ingest uploads/s", f"{median.uploads:.1f}")
    row("ingest measurements/s", f"{median.measurements:.1f}")
    row("latency p50 / p99 (ms)", f"{median.p50 * 1000:.1f} / {median.p99 * 1000:.1f}")
    row("answers other than 201", str(sum(result.failures for result in results)), "all rounds")
    row(
        "CPU per upload (ms)",
        f"{median.collector_ms:.2f}",
        f"collector processes; the clients {median.client_ms:.2f}",
    )
    row(
        "ingest with writes skipped, uploads/s",
        f"{median.unwritten:.0f}",
        f"CPU per upload {median.unwritten_ms:.2f} ms (bench.skipwrites: checked and answered, not kept)",
    )
    row(
        "cores busy (b): uploads' writes",
        f"{median.busy:.0%}",
        f"idle otherwise: the writes waited (journal, the store); without writes {median.unwritten_busy:.0%}",
    )
    bounds = sorted(result.bound for result in results)
    row(
        "bound on ingest / uploads' writes",
        f"{median.bound:.2f}",
        f"R / (C + b R), R and C sharing the cores; rounds {bounds[0]:.2f}-{bounds[-1]:.2f}",
    )
    slowest_raw = min(raw, median.writes)
    row("ingest / slower raw limit", f"{median.uploads / slowest_raw:.2f}", f"slower raw limit {slowest_raw:.0f}/s")
    row(
        "ingest / slower per-upload ceiling",
        f"{median.uploads / ceiling(median):.2f}",
        f"ceiling {ceiling(median):.0f} uploads/s; target >= 0.5; rounds {ratios[0]:.2f}-{ratios[-1]:.2f}",
    )
    row(
        "ingest / half the durable writes/s",
        f"{2 * median.uploads / median.writes:.2f}",
        "the ceiling counted the simpler way, for comparison (an upload's writes are not two plain writes)",
    )


def file_system(folder: Path) -> str:
    """The type of the file system holding `folder` and its mount options, from /proc/self/mounts (Linux)."""
    best = ("", "", "unknown", "")
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in mounts:
        device, point, kind, options, *_ = line.split()
        if folder.resolve().is_relative_to(point) and len(point) >= len(best[1]):
            best = (device, point, kind, options)
    device, _, kind, options = best
    if kind == "ext4":  # without a journal, ext4 scans past recently deleted inodes on every new file
        journal = any(Path("/proc/fs/jbd2").glob(f"{Path(device).name}-*"))
        kind += "" if journal else ", no journal"
    return f"{kind}; {options}"


REPOSITORY = Path(__file__).resolve().parent.parent


def row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<40} {value:>14}  {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--uploads", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3, help="ingest runs per store (the machine is noisy)")
    parser.add_argument("--writes", type=int, default=2048, help="objects written to measure the store's limit")
    # Twice the cores: a worker waiting on fsync or on the object store leaves its core to another.
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--stores", default="file,s3")
    parser.add_argument("--folder", type=Path, help="where the folder store is made (default: the temp folder)")
    options = parser.parse_args()
    secrets = [SecretKey.generate() for _ in range(options.clients)]
    rounds = []
    for _ in range(options.rounds):
        files = []
        for n in range(options.uploads):
            secret = secrets[n % len(secrets)]
            files.append((make_file(secret), secret.public_key().to_base64()))
        rounds.append(files)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        stores = options.stores.split(",")
        if "file" in stores:
            with tempfile.TemporaryDirectory(prefix="bench-ingest-store-", dir=options.folder) as folder:
                name = f"folder (fsync + link) in {Path(folder).parent} ({file_system(Path(folder))})"
                bench_store(name, folder, [], None, work, options, rounds, secrets)
        if "s3" in stores:
            seaweed = SeaweedFS(work)
            seaweed.start()
            try:
                spec = f"s3://{seaweed.bucket}/bench"
                bench_store("SeaweedFS S3 (If-None-Match: *)", spec, ["--s3-endpoint", seaweed.endpoint],
                            seaweed.endpoint, work, options, rounds, secrets)  # fmt: skip
            finally:
                seaweed.stop()


if __name__ == "__main__":
    main()
