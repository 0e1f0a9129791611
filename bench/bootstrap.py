"""A fresh `hostd images bootstrap`, timed: every base built anew under a scratch
repository namespace (so the machine's own bases are neither used nor touched), node and
npm downloaded into an empty cache, then the scratch images removed. Prints seconds per
image, the total, and each image's size.

    .venv/bin/python bench/bootstrap.py

The Debian rootfs is always fresh (debootstrap, then an import); busybox is the one
recipe the layer cache can answer (its input is the host's binary). Needs root.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hostd.engine import images
from hostd.source import node_versions
from hostd.source.templates import default_build_ca_bundle

_BUILT = re.compile(r"^(\S+): built in ([0-9.]+)s$")


@contextlib.contextmanager
def scratch_namespace(namespace: str) -> Iterator[None]:
    """The bootstrap's tags under `namespace/` instead of `hostd/` while inside."""
    names = ("BUSYBOX_IMAGE", "DEBIAN_IMAGE", "PYTHON_IMAGE", "NGINX_IMAGE")
    saved = {name: getattr(images, name) for name in names}
    repository = node_versions.NODE_REPOSITORY
    try:
        for name, tag in saved.items():
            setattr(images, name, f"{namespace}/{tag.split('/', 1)[1]}")
        node_versions.NODE_REPOSITORY = f"{namespace}/node"
        yield
    finally:
        for name, tag in saved.items():
            setattr(images, name, tag)
        node_versions.NODE_REPOSITORY = repository


def fresh_bootstrap(client: docker.DockerClient) -> tuple[float, dict[str, tuple[float, int]]]:
    """(total seconds, tag -> (seconds, bytes)) of one fresh bootstrap; removes its images."""
    namespace = f"hostd-bench-{uuid.uuid4().hex[:8]}"
    per_image: dict[str, float] = {}

    def log(line: str) -> None:
        if match := _BUILT.match(line):
            per_image[match.group(1)] = float(match.group(2))

    built: list[str] = []
    with scratch_namespace(namespace), tempfile.TemporaryDirectory() as cache:
        started = time.monotonic()
        try:
            built = images.bootstrap_base_images(client, log, default_build_ca_bundle(),
                                                 node_cache=Path(cache))
            total = time.monotonic() - started
            sizes = {tag: (per_image.get(tag, 0.0), int(client.images.get(tag).attrs["Size"]))
                     for tag in built}
        finally:
            for tag in reversed(built):  # by tag: an image also tagged elsewhere stays
                client.images.remove(tag, force=True)
    return total, {f"hostd/{tag.split('/', 1)[1]}": value for tag, value in sizes.items()}


def main() -> None:
    total, sizes = fresh_bootstrap(docker.from_env(timeout=600))
    for tag, (seconds, size) in sizes.items():
        print(f"{tag:<28} {seconds:6.1f} s  {size / 1e6:6.0f} MB")
    print(f"{'total':<28} {total:6.1f} s  {sum(s for _, s in sizes.values()) / 1e6:6.0f} MB")


if __name__ == "__main__":
    main()
