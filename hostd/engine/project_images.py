"""The images hostd built for projects, found by their labels.

Removing one is :func:`hostd.engine.containers.remove_image`; this module only finds.
"""

from __future__ import annotations

import docker

from hostd.engine.client import translate_errors
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL


def project_images(client: docker.DockerClient, instance: str, project_id: str) -> list[str]:
    """Tags (or ids) of every image hostd built for the project."""
    filters = {"label": [f"{INSTANCE_LABEL}={instance}", f"{PROJECT_LABEL}={project_id}"]}
    with translate_errors(f"list images of project {project_id}"):
        images = client.images.list(filters=filters)
    return [image.tags[0] if image.tags else image.id for image in images]


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

