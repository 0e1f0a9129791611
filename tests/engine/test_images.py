"""Offline base images: bootstrap is idempotent and the choice falls back to ours."""

from __future__ import annotations

import time

from hostd.engine import (
    BaseImages,
    EngineClient,
    bootstrap_base_images,
    image_exists,
    resolve_base_images,
)
from hostd.engine.images import LOCAL_IMAGES, OFFICIAL_IMAGES


def test_bootstrap_makes_every_base_image(docker_client: EngineClient,
                                          base_images: BaseImages) -> None:
    for tag in [*LOCAL_IMAGES.values(), "hostd/debian:bookworm"]:
        assert image_exists(docker_client, tag), tag


def test_bootstrap_again_skips_everything(docker_client: EngineClient,
                                          base_images: BaseImages) -> None:
    lines: list[str] = []
    started = time.monotonic()
    assert bootstrap_base_images(docker_client, lines.append, None) == []
    assert time.monotonic() - started < 5
    assert all(line.endswith("present, skipped") for line in lines)


def test_resolve_prefers_official_else_ours(docker_client: EngineClient,
                                            base_images: BaseImages) -> None:
    lines: list[str] = []
    bases = resolve_base_images(docker_client, lines.append)
    for role, local in LOCAL_IMAGES.items():
        official = OFFICIAL_IMAGES[role]
        expected = official if image_exists(docker_client, official) else local
        assert bases[role] == expected  # type: ignore[literal-required]
    assert len(lines) == 3 and lines[0].startswith("base image for python: ")


def test_static_busybox_has_httpd(docker_client: EngineClient, base_images: BaseImages,
                                  labels: dict[str, str]) -> None:
    out = docker_client.containers.run(
        "hostd/busybox:1", ["sh", "-c", "httpd --help 2>&1 | head -1"],
        remove=True, labels=labels,
    )
    assert b"BusyBox" in out
