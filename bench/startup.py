"""How long `probe --help` takes, and what it imports: the command line must stay instant (target < 0.3 s).

Run: .venv/bin/python bench/startup.py [--runs 20]
Prints the median and best wall time of `probe --help` and of a bare `python -c pass` (the floor on this
machine), and the heavy modules, if any, that the help path imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = (
    "httpx",
    "dns",
    "pydantic",
    "cryptography",
    "nacl",
    "scapy",
    "pyarrow",
    "starlette",
    "uvicorn",
    "boto3",
    "duckdb",
)


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    python = sys.executable
    probe = str(Path(python).with_name("probe"))
    floor = timed([python, "-c", "pass"], args.runs)
    help_ = timed([probe, "--help"], args.runs)
    run_help = timed([probe, "run", "--help"], args.runs)
    loaded = subprocess.run(
        [python, "-c", "import sys\nfrom probe.cli import app\nprint(' '.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    heavy = sorted({m.split(".")[0] for m in loaded if m.split(".")[0] in HEAVY})
    print(f"python -c pass : median {statistics.median(floor) * 1000:6.1f} ms  best {min(floor) * 1000:6.1f} ms")
    print(f"probe --help   : median {statistics.median(help_) * 1000:6.1f} ms  best {min(help_) * 1000:6.1f} ms")
    print(f"probe run --help: median {statistics.median(run_help) * 1000:6.1f} ms  best {min(run_help) * 1000:6.1f} ms")
    print(f"ratio help/floor: {statistics.median(help_) / statistics.median(floor):.1f}x")
    print(f"heavy modules on the help path: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
