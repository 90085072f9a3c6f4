"""Where the collector keeps objects: a local folder (default: one machine, zero set-up) or any S3-compatible store.

Both give the one guarantee the raw zone is built on: `put_new` creates an object only if its key is absent, and
returns only once the bytes are durable. Several collector processes (on one machine or many) can therefore
write to one store at once: the first writer of a key wins, every later one learns the object exists, and no
object is ever overwritten or seen half-written.

- folder: the bytes go to a private temporary file (fsync), which is then hard-linked to its key; `link()` fails
  when the key exists (POSIX: it never replaces), and the folder is fsynced before we answer. A crash leaves at
  most a temporary file under `.tmp/`, never a partial object.
- S3: `PutObject` with `If-None-Match: *` (AWS "conditional writes"; SeaweedFS, MinIO, R2 and others implement it)
  and `x-amz-checksum-sha256`, so the store itself refuses bytes damaged on the way. 412 means the key exists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from probe import atomicfile as files

TMP_DIR = ".tmp"


class StoreError(Exception):
    """The store cannot do this now (unreachable, full, a racing writer): the upload is to be retried later."""


class Store(Protocol):
    """The operations the collector and the export need."""

    name: str

    def put_new(self, key: str, data: bytes, *, sync: bool = True) -> bool:
        """Create `key` with `data` if absent; True when created, False when it existed. Durable on return; with
        `sync=False` a folder store leaves the new name to the next synced write in the same folder (the raw body
        that follows its signature), which saves one fsync per upload."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix`, in lexical order."""
        ...

    def replace(self, key: str, data: bytes) -> None:
        """Write `key` whole, replacing it atomically (the curated zone only: it is rebuilt, never appended)."""
        ...

    def check(self) -> None:
        """Raise StoreError when the store cannot be used (the health endpoint)."""
        ...


def open_store(spec: str, endpoint_url: str | None = None) -> Store:
    """A folder path, or `s3://bucket[/prefix]` (endpoint from `endpoint_url` or `AWS_ENDPOINT_URL`; credentials
    from the usual AWS variables or files, anonymous when there are none)."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"{spec}: an S3 store is s3://BUCKET or s3://BUCKET/PREFIX")
        return S3Store(bucket, prefix, endpoint_url)
    if "://" in spec:
        raise ValueError(f"{spec}: a store is a folder or an s3://BUCKET/PREFIX URL")
    return FileStore(Path(spec))


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise ValueError(f"not a store key: {key!r}")


class FileStore:
    """Objects as files under a root folder; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.name = f"file:{self.root}"
        self._root = str(self.root)
        self._tmp_dir = os.path.join(self._root, TMP_DIR)
        # Folders known to exist durably: a raw zone writes into one folder a day, so after the first write of the
        # day `put_new` asks the file system nothing but the key itself.
        self._folders: set[str] = set()
        # Temporary names: unique in this process by the counter, across processes and machines (a shared NFS
        # folder) by the pid and a random token; O_EXCL refuses the improbable rest.
        self._tmp_names = itertools.count()
        self._tmp_token = os.urandom(4).hex()

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    def _tmp(self) -> Path:
        tmp = self.root / TMP_DIR
        if not tmp.is_dir():
            self._make_dirs(tmp)
        return tmp

    def _make_dirs(self, folder: Path) -> None:
        """Create `folder` and its missing parents, each new entry made durable in its parent."""
        missing = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                path.mkdir()
            files.fsync_dir(path.parent)

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._folders:
            self._make_dirs(Path(folder))
            self._folders.add(folder)

    def put_new(self, key: str, data: bytes, *, sync: bool = True) -> bool:
        # Plain `os` calls on strings: this runs twice per upload, in many threads at once, and every line of
        # Python here is paid for under the GIL (pathlib and tempfile cost as much CPU as the fsync itself).
        _check_key(key)
        final = os.path.join(self._root, key)
        folder = os.path.dirname(final)
        try:
            if os.path.lexists(final):
                self._existing(folder, sync)
                return False
            self._ensure_folder(folder)
            self._ensure_folder(self._tmp_dir)
            tmp = os.path.join(self._tmp_dir, f"put-{os.getpid()}-{self._tmp_token}-{next(self._tmp_names)}")
            # Read-only from birth (the descriptor still writes): nothing rewrites a raw object.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
            try:
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    os.link(tmp, final)  # never replaces an existing name: first writer wins
                except FileExistsError:
                    self._existing(folder, sync)
                    return False
                except FileNotFoundError:
                    self._folders.discard(folder)  # removed behind our back: made again on the next try
                    raise
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            if sync:
                files.fsync_dir(Path(folder))
        except OSError as exc:
            raise StoreError(f"cannot write {key}: {exc.strerror or exc}") from exc
        return True

    def _existing(self, folder: str, sync: bool) -> None:
        """The key exists: its writer fsynced the bytes before linking them, but may not yet have made the name
        durable in its folder. Do it, so that "already stored" is as durable as "stored"."""
        if sync:
            files.fsync_dir(Path(folder))

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def keys(self, prefix: str) -> Iterator[str]:
        # Walk only below the deepest folder the prefix names.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder if folder else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        yield from sorted(found)

    def replace(self, key: str, data: bytes) -> None:
        try:
            files.write_atomic(self._path(key), data)
        except OSError as exc:
            raise StoreError(f"cannot write {key}: {exc.strerror or exc}") from exc

    def check(self) -> None:
        try:
            self._tmp()
            if not os.access(self.root / TMP_DIR, os.W_OK):
                raise StoreError(f"{self.root} is not writable")
        except OSError as exc:
            raise StoreError(f"{self.root}: {exc.strerror or exc}") from exc

    def sweep(self, older_than: float = 3600.0) -> int:
        """Remove temporary files a crashed writer left behind (older than `older_than` seconds, so another
        process's write in flight is never touched). Returns how many went."""
        tmp = self.root / TMP_DIR
        removed = 0
        if not tmp.is_dir():
            return 0
        limit = time.time() - older_than
        for entry in tmp.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < limit:
                    entry.unlink()
                    removed += 1
        return removed


def _botocore_session() -> Any:
    """A botocore session whose credential chain never asks the cloud instance metadata service (IMDS,
    169.254.169.254) unless the operator turned it on with AWS_EC2_METADATA_DISABLED=false. The default chain asks it
    whenever no other credentials are found: on a collector with a store on loopback or a public bucket, that was a
    request to a link-local address on the operator's network, and on a machine outside a cloud a one-second wait
    per client. Keys in the environment, the shared files, a profile, SSO, a container's credentials endpoint
    (AWS_CONTAINER_CREDENTIALS_*) and a profile's `credential_source = Ec2InstanceMetadata` all still work: each is
    something the operator configured."""
    import botocore.session

    session = botocore.session.Session()
    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() != "false":
        session.get_component("credential_provider").remove("iam-role")  # botocore's name for the IMDS provider
    return session


class S3Store:
    """Objects in an S3 bucket under a key prefix, written with conditional PUTs."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.name = f"s3://{bucket}/{self.prefix}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        self._client: Any = None  # boto3's client, made on first use, then shared by every thread
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """boto3's S3 client (thread-safe, with its own connection pool). Made once: making one costs a third of
        a second of CPU (botocore loads and indexes the S3 service model), and threads that all found none used to
        make one each, which once stalled a new collector for seconds under load."""
        if self._client is not None:
            return self._client
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        session = boto3.session.Session(botocore_session=_botocore_session())
        config = Config(
            s3={"addressing_style": "path"},
            max_pool_connections=128,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            # Anonymous access when no credentials are configured (a store on loopback, a public bucket).
            signature_version=UNSIGNED if session.get_credentials() is None else None,
        )
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=session.region_name or "us-east-1",
            config=config,
        )

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def put_new(self, key: str, data: bytes, *, sync: bool = True) -> bool:
        _check_key(key)  # an S3 acknowledgement is always durable: `sync` has nothing to skip
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*", ChecksumSHA256=checksum
            )
        except self._errors() as exc:
            status = _status(exc)
            if status == 412:  # PreconditionFailed: the key exists
                return False
            if status == 409:  # ConditionalRequestConflict: another writer of the same key is in flight
                raise StoreError(f"a concurrent write of {key} is in progress") from exc
            raise StoreError(f"cannot write {key}: {_describe(exc)}") from exc
        return True

    def get(self, key: str) -> bytes | None:
        _check_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            body: bytes = response["Body"].read()
        except self._errors() as exc:
            if _status(exc) == 404:
                return None
            raise StoreError(f"cannot read {key}: {_describe(exc)}") from exc
        return body

    def exists(self, key: str) -> bool:
        _check_key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._errors() as exc:
            if _status(exc) == 404:
                return False
            raise StoreError(f"cannot look up {key}: {_describe(exc)}") from exc
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix) :]
        except self._errors() as exc:
            raise StoreError(f"cannot list {prefix}: {_describe(exc)}") from exc

    def replace(self, key: str, data: bytes) -> None:
        _check_key(key)
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ChecksumSHA256=checksum)
        except self._errors() as exc:
            raise StoreError(f"cannot write {key}: {_describe(exc)}") from exc

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self._errors() as exc:
            raise StoreError(f"{self.name}: {_describe(exc)}") from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _status(exc: Exception) -> int | None:
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _describe(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', '')} {error.get('Message', '')}".strip()
    return str(exc)
