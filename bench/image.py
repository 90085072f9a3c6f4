"""The Docker image's size (goal: under 250 MB), and where it goes.

Run: sudo .venv/bin/python -m bench.image   (a Docker daemon; ./scripts/test as root starts one)

Builds the image from the working tree as the tests do (tests/docker/engine.py: on the Dockerfile's FROM image, the
official one or the debootstrap-made equivalent of scripts/docker-base), then prints the image's size, the base's,
each layer the Dockerfile adds, and the largest installed Python distributions. Sizes are uncompressed, as
`docker images` shows them (a registry's compressed figure is about a third of it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tests.docker.engine import base_name, build_image, docker

MB = 1_000_000  # as docker prints sizes


def main() -> None:
    tag = f"probe-bench:{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        build_image(tag, Path(folder))
    try:
        size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)
        base = int(docker("image", "inspect", "--format", "{{.Size}}", base_name()).stdout)
        print(f"image: {size / MB:.0f} MB (goal: under 250 MB); base {base_name()}: {base / MB:.0f} MB")
        history = docker("history", "--no-trunc", "--format", "{{json .}}", tag).stdout.splitlines()
        for line in reversed(history):
            layer = json.loads(line)
            if layer["Size"] not in ("0B", "0") and "buildkit" in layer["Comment"]:
                print(f"  {layer['Size']:>8}  {layer['CreatedBy'][:100]}")
        script = (
            "import site, pathlib; root = pathlib.Path(site.getsitepackages()[0]); "
            "sizes = {d.name: sum(f.stat().st_size for f in d.rglob('*') if f.is_file()) "
            "for d in root.iterdir() if d.is_dir() and not d.name.endswith('-info')}; "
            "print('\\n'.join(f'{s} {n}' for n, s in sorted(sizes.items(), key=lambda i: -i[1])[:8]))"
        )
        listed = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", tag, "-c", script).stdout
        print(
            "largest Python packages:",
            ", ".join(f"{n} {int(s) / MB:.1f} MB" for s, n in map(str.split, listed.splitlines())),
        )
    finally:
        docker("image", "rm", "--force", tag, check=False)


if __name__ == "__main__":
    main()
