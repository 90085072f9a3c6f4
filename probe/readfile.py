"""Reading a file a user names: a regular file only, and no more of it than its purpose ever needs.

Issue 21: `probe verify`, `probe targets validate`, `probe run --targets` and `PROBE_CONFIG` read whatever they
were given whole. `/dev/zero` gave a MemoryError traceback or, without a memory limit, grew until the kernel killed
the probe (23.7 GB seen); a FIFO would block for ever. The refusals are OSErrors with a `strerror` that says what
is wrong, so every caller's existing "cannot read it (...)" message, and its exit code 2, apply.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# What each kind of file can need. A result file of a thousand endpoints is a few MB, and the probe keeps its
# own under 7 MiB; the bundled target lists are some 40 kB, and a list of 100,000 endpoints under 16 MB.
RESULT_FILE = 64 * 1024 * 1024
SIGNATURE_FILE = 64 * 1024
KEY_FILE = 64 * 1024
TARGET_LIST = 16 * 1024 * 1024
CONFIG_FILE = 1024 * 1024
CA_FILE = 16 * 1024 * 1024
GEOIP_DATABASE = 4 * 1024**3  # mapped into memory, not read; the largest (city files) are a few hundred MB


def read_bytes(path: Path, limit: int) -> bytes:
    """The whole of `path`, a regular file of at most `limit` bytes; raises OSError otherwise (FileNotFoundError
    and the like as `open` does; EINVAL for anything but a regular file, EFBIG for a larger one)."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer before the check below could refuse it.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _regular(path, os.fstat(descriptor).st_mode)
        chunks = []
        size = 0
        while chunk := os.read(descriptor, min(1024 * 1024, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(path, limit)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def read_text(path: Path, limit: int) -> str:
    """`read_bytes` as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_bytes(path, limit).decode("utf-8")


def check(path: Path, limit: int) -> None:
    """Raise as `read_bytes` would, without reading: for a file that a library will read itself (a CA bundle)."""
    status = os.stat(path)
    _regular(path, status.st_mode)
    if status.st_size > limit:
        raise _too_large(path, limit)


def _too_large(path: Path, limit: int) -> OSError:
    return OSError(errno.EFBIG, f"larger than {limit // 1024} kB, more than such a file ever needs", str(path))


def _regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file (a device, a pipe or a socket)", str(path))
