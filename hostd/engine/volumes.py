"""A project's persistent data: one named volume per project, mounted at /data.

It outlives every container of the project (redeploys, restarts, rollbacks, config
changes, one-off commands share it) and goes with the project. A new volume takes the
owner of the image's /data (the templates make it the app user's, hostd.engine.pyapp);
a repository's own Dockerfile decides for itself.
"""

from __future__ import annotations

import docker
import docker.errors
from docker.types import Mount

from hostd.engine.client import translate_errors
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL

MOUNT_POINT = "/data"


def data_volume_name(instance: str, project_id: str) -> str:
    return f"hostd-{instance}-data-{project_id}"


def ensure_data_volume(client: docker.DockerClient, instance: str, project_id: str) -> str:
    """The project's volume, made (labelled) on first use; its name."""
    name = data_volume_name(instance, project_id)
    with translate_errors(f"create volume {name}"):
        try:
            client.volumes.get(name)
        except docker.errors.NotFound:
            client.volumes.create(name, labels={INSTANCE_LABEL: instance,
                                                PROJECT_LABEL: project_id})
    return name


def data_mount(name: str) -> list[Mount]:
    """The volume at /data, as a volume mount (never a bind of a host path)."""
    return [Mount(target=MOUNT_POINT, source=name, type="volume")]


def data_volumes(client: docker.DockerClient, instance: str) -> dict[str, str]:
    """This instance's data volumes: project id → volume name."""
    with translate_errors("list volumes"):
        found = client.volumes.list(filters={"label": f"{INSTANCE_LABEL}={instance}"})
    return {volume.attrs["Labels"][PROJECT_LABEL]: volume.name for volume in found
            if PROJECT_LABEL in (volume.attrs.get("Labels") or {})}


def remove_data_volume(client: docker.DockerClient, instance: str, project_id: str) -> bool:
    """Remove it (its data is gone for good); False when there was none."""
    name = data_volume_name(instance, project_id)
    with translate_errors(f"remove volume {name}"):
        try:
            client.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            return False
    return True
