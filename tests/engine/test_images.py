"""Offline base images: bootstrap is idempotent and the choice falls back to ours."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from hostd.engine import (
    BOOTSTRAP_COMMAND,
    BaseImages,
    EngineClient,
    ImageMissing,
    bootstrap_base_images,
    image_exists,
    resolve_base_images,
)
from hostd.engine.containers import image_labels
from hostd.engine.images import LOCAL_IMAGES, OFFICIAL_IMAGES
from hostd.source.bases import (
    BUSYBOX_IMAGE,
    CURRENT_BASES,
    DEBIAN_SUITE,
    NGINX_IMAGE,
    PYTHON_IMAGE,
    SUITE_LABEL,
)


def test_bootstrap_makes_every_base_image(docker_client: EngineClient,
                                          base_images: BaseImages) -> None:
    for tag in [*LOCAL_IMAGES.values(), *CURRENT_BASES]:
        assert image_exists(docker_client, tag), tag


def test_the_bases_are_debian_13_with_its_python(docker_client: EngineClient,
                                                 base_images: BaseImages,
                                                 labels: dict[str, str]) -> None:
    assert DEBIAN_SUITE == "trixie"
    for tag in CURRENT_BASES - {BUSYBOX_IMAGE}:
        assert image_labels(docker_client, tag).get(SUITE_LABEL) == DEBIAN_SUITE, tag
    out = docker_client.containers.run(
        PYTHON_IMAGE, ["sh", "-c", "cat /etc/debian_version; python3 --version"],
        remove=True, labels=labels).decode()
    assert out.startswith("13.") and "Python 3.13." in out, out


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
        official = OFFICIAL_IMAGES.get(role)
        expected = official if official and image_exists(docker_client, official) else local
        assert bases[role] == expected  # type: ignore[literal-required]
    assert len(lines) == 3 and lines[0].startswith("base image for python: ")
    # Sites always get ours: hostd's nginx config lives in it.
    assert bases["nginx"] == NGINX_IMAGE and "nginx" not in OFFICIAL_IMAGES


def test_static_busybox_has_httpd(docker_client: EngineClient, base_images: BaseImages,
                                  labels: dict[str, str]) -> None:
    out = docker_client.containers.run(
        "hostd/busybox:1", ["sh", "-c", "httpd --help 2>&1 | head -1"],
        remove=True, labels=labels,
    )
    assert b"BusyBox" in out


def test_nginx_base_checks_its_config_as_nobody(docker_client: EngineClient,
                                                base_images: BaseImages,
                                                labels: dict[str, str]) -> None:
    # As hostd runs sites, and stricter: read-only root, tmpfs /tmp, no capabilities.
    out = docker_client.containers.run(
        NGINX_IMAGE, ["sh", "-c", "printf 'listen 8000;\\n' > /tmp/nginx-server.conf"
                      " && printf 'worker_processes 1;\\n' > /tmp/nginx-main.conf"
                      " && nginx -e stderr -t -c /etc/nginx/hostd/nginx.conf 2>&1"],
        user="65534:65534", read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"],
        security_opt=["no-new-privileges"], remove=True, labels=labels,
    )
    assert b"test is successful" in out, out
    config = docker_client.api.inspect_image(NGINX_IMAGE)["Config"]
    assert config["StopSignal"] == "SIGQUIT"


def test_missing_base_image_names_the_bootstrap_command(
    docker_client: EngineClient, base_images: BaseImages, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if image_exists(docker_client, OFFICIAL_IMAGES["python"]):
        pytest.skip("an official python image is loaded: the local one is never needed")
    monkeypatch.setitem(LOCAL_IMAGES, "python", "hostd-test/no-such-python:0")
    with pytest.raises(ImageMissing) as caught:
        resolve_base_images(docker_client, needed=["python"])
    assert caught.value.command == BOOTSTRAP_COMMAND == "hostd images bootstrap"
    assert caught.value.image == "hostd-test/no-such-python:0"
    # A deploy that needs only nginx is not held up by the missing python image.
    assert resolve_base_images(docker_client, needed=["nginx"])["nginx"] == NGINX_IMAGE


def test_ensure_docker_is_a_no_op_when_the_engine_answers(docker_client: EngineClient) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "ensure-docker"
    started = time.monotonic()
    result = subprocess.run(["bash", str(script)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CI": "true"})
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
