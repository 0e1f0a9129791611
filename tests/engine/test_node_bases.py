"""The node bases on the real engine: each line's node, npm and npx run as the apps run
them, the labels say the versions, and a project's range picks among what is there."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hostd.engine import BaseImages, EngineClient, node_dist
from hostd.engine.containers import image_labels, inspect_image
from hostd.engine.images import (
    NODE_VERSION_LABEL,
    NPM_VERSION_LABEL,
    _ensure_node,
    node_base_for,
    node_lines_available,
)
from hostd.engine.node_dist import NothingCached
from hostd.source import node_versions
from hostd.source.checkout import Checkout
from hostd.source.node_versions import NODE_LINES, node_image
from tests.plugins.engine import SESSION


@pytest.mark.parametrize("line", NODE_LINES)
def test_each_node_base_runs_its_line(docker_client: EngineClient, base_images: BaseImages,
                                      labels: dict[str, str], line: int) -> None:
    out = docker_client.containers.run(
        node_image(line), ["sh", "-c", "node --version && npm --version && npx --version"],
        user="65534:65534", environment={"HOME": "/tmp"}, remove=True, labels=labels,
    ).decode().split()
    found = image_labels(docker_client, node_image(line))
    assert out[0] == f"v{found[NODE_VERSION_LABEL]}" and out[0].startswith(f"v{line}.")
    assert out[1] == out[2] == found[NPM_VERSION_LABEL]


def test_the_project_range_picks_among_the_engines_lines(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
) -> None:
    assert sorted(node_lines_available(docker_client)) == list(NODE_LINES)
    assert base_images["node"] == node_image(24)
    lines: list[str] = []
    assert node_base_for(docker_client, Checkout(tmp_path), lines.append) == node_image(24)
    (tmp_path / "package.json").write_text('{"engines": {"node": ">=18 <23"}}')
    assert node_base_for(docker_client, Checkout(tmp_path), lines.append) == node_image(22)
    assert lines[-1] == "node line 22 (package.json engines.node: >=18 <23): hostd/node:22"


def test_offline_a_base_on_an_older_suite_is_kept_not_lost(
    docker_client: EngineClient, base_images: BaseImages, labels: dict[str, str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A node base as bookworm's bootstrap left it (no suite label), the registry gone and
    # nothing cached: bootstrap keeps it (offline-capable) instead of failing.
    monkeypatch.setattr(node_versions, "NODE_REPOSITORY", f"hostd-test-{SESSION[:8]}/node")
    old, _ = docker_client.images.build(
        fileobj=io.BytesIO(b"FROM hostd/busybox:1\n"), tag=node_image(24), rm=True,
        labels={**labels, NODE_VERSION_LABEL: "24.0.0"})

    def unreachable(http: object, package: str) -> dict[str, object]:
        raise node_dist.RegistryUnavailable("no route to host")

    monkeypatch.setattr(node_dist, "_metadata", unreachable)
    lines: list[str] = []
    assert not _ensure_node(docker_client, lines.append, 24, None, tmp_path)
    assert "kept on its older suite" in lines[-1], lines
    assert (inspect_image(docker_client, node_image(24)) or {}).get("Id") == old.id
    with pytest.raises(NothingCached):  # with no base at all, offline is an error
        _ensure_node(docker_client, lines.append, 22, None, tmp_path)
