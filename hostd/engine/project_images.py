"""The images hostd built for projects: found by their labels, or among a build's steps.

Removing one is :func:`hostd.engine.containers.remove_image`; this module only finds.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import docker

from hostd.engine.client import translate_errors
from hostd.naming import INSTANCE_LABEL, PROJECT_LABEL


def project_images(client: docker.DockerClient, instance: str, project_id: str) -> list[str]:
    """Tags (or ids) of every image hostd built for the project."""
    filters = {"label": [f"{INSTANCE_LABEL}={instance}", f"{PROJECT_LABEL}={project_id}"]}
    with translate_errors(f"list images of project {project_id}"):
        # The engine's summaries, not images.list(): that inspects each image after the
        # listing, and fails on one a cancelled deploy removes meanwhile.
        images = client.api.images(filters=filters)
    return [_tag_or_id(image) for image in images]


def _tag_or_id(summary: dict[str, Any]) -> str:
    tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
    return str(tags[0]) if tags else str(summary["Id"])


def instance_images(client: docker.DockerClient, instance: str) -> dict[str, list[str]]:
    """Every image of this daemon instance, by project id."""
    with translate_errors("list images"):
        images = client.images.list(filters={"label": f"{INSTANCE_LABEL}={instance}"})
    found: dict[str, list[str]] = {}
    for image in images:
        project = (image.labels or {}).get(PROJECT_LABEL)
        if project:
            found.setdefault(project, []).append(image.tags[0] if image.tags else image.id)
    return found


def untagged_among(client: docker.DockerClient, step_ids: Set[str]) -> list[str]:
    """The untagged leaf images (full ids, sorted) whose short id (12 hex digits, as the
    classic builder prints each step's image) is in ``step_ids``; no engine call when
    ``step_ids`` is empty."""
    if not step_ids:
        return []
    with translate_errors("list untagged images"):
        dangling = client.api.images(filters={"dangling": True}, quiet=True)
    return sorted(i for i in dangling if i.removeprefix("sha256:")[:12] in step_ids)
