"""Reading a large target list: time per entry at growing sizes, which stays flat when parsing is linear.

Run: .venv/bin/python -m bench.targets [--sizes 10000,20000,40000]

Issue 21: the line numbers of the `[[endpoint]]` headers were counted from the file's start for each header, so
reading was quadratic (10k entries 3.2 s, 40k 38 s). Prints, for each size, the seconds to load and validate a
generated list (`probe.targets.load`, as `probe targets validate` and `probe run --targets` do) and the time per
entry relative to the smallest size (1.0: linear).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from probe import targets


def generated(count: int, folder: Path) -> Path:
    path = folder / f"targets-{count}.toml"
    entries = (
        f'[[endpoint]]\nservice = "line"\nhost = "h{n}.example.org"\nport = 443\nprotocol = "tls"\n\n'
        for n in range(count)
    )
    path.write_text('version = "2026-01-01"\n\n' + "".join(entries))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,20000,40000")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        base: float | None = None
        for count in sizes:
            path = generated(count, Path(folder))
            started = time.perf_counter()
            loaded = targets.load([path])
            seconds = time.perf_counter() - started
            assert len(loaded) == count
            per_entry = seconds / count
            base = base or per_entry
            print(f"{count:>7} entries: {seconds:6.2f} s, {per_entry * 1e6:6.1f} µs each, {per_entry / base:.2f}x")


if __name__ == "__main__":
    main()
