"""What signing and verifying a result file costs: Python (probe.signing) and, when installed, the stock `minisign`.

Run: .venv/bin/python bench/signing.py [--sizes 40000,1000000,10000000] [--runs 20]
Prints, per file size, the median time to sign and to verify in Python, and to verify with `minisign -V -H`
(a whole process each time, as a third party runs it). A real offline run's file is about 40 kB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from probe import signing
from probe.minisign import SecretKey


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="40000,1000000,10000000", help="file sizes in bytes, comma-separated")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    secret = SecretKey.generate()
    public = secret.public_key()
    stock = shutil.which("minisign")
    print(f"{'size':>10}  {'sign (py)':>10}  {'verify (py)':>11}  {'verify (minisign)':>17}")
    with tempfile.TemporaryDirectory() as folder:
        pub = Path(folder) / "probe.pub"
        pub.write_bytes(public.to_file())
        for size in (int(s) for s in args.sizes.split(",")):
            data = os.urandom(size)
            minisig = signing.sign_result(data, "r.jsonl", secret)
            sign = median_ms(lambda: signing.sign_result(data, "r.jsonl", secret), args.runs)  # noqa: B023
            check = median_ms(lambda: signing.verify_result(data, minisig, public), args.runs)  # noqa: B023
            line = f"{size:>10}  {sign:>8.2f}ms  {check:>9.2f}ms"
            if stock:
                path = Path(folder) / "r.jsonl"
                path.write_bytes(data)
                path.with_name("r.jsonl.minisig").write_bytes(minisig)
                command = [stock, "-V", "-H", "-q", "-m", str(path), "-p", str(pub)]
                stock_ms = median_ms(lambda: subprocess.run(command, check=True), args.runs)  # noqa: B023
                line += f"  {stock_ms:>15.2f}ms"
            print(line)


if __name__ == "__main__":
    main()
