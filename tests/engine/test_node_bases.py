"""The node bases on the real engine: each line's node, npm and npx run as the apps run
them, the labels say the versions, and a project's range picks among what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.engine import BaseImages, EngineClient
from hostd.engine.checkout import Checkout
from hostd.engine.containers import image_labels
from hostd.engine.images import (
    NODE_VERSION_LABEL,
    NPM_VERSION_LABEL,
    node_base_for,
    node_lines_available,
)
from hostd.engine.node_versions import NODE_LINES, node_image


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
