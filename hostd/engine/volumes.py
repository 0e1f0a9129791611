"""A project's persistent data: one named volume per project, mounted at /data.

It outlives every container of the project (redeploys, restarts, rollbacks, config
changes, one-off commands share it) and goes with the project. A new volume takes the
owner of the image's /data (the templates make it the app user's, hostd.source.pyapp);
a repository's own Dockerfile decides for itself.

With a size limit (hostd.engine.datavol) the volume binds the `data/` directory of the
project's own mounted filesystem: the engine still copies the image's /data into it
when it is new, and still mounts it as the named volume `/data`. A volume made before
the limit (no bind) is used as it is, without one (logged).
"""

from __future__ import annotations

import logging

import docker
import docker.errors
from docker.types import Mount

from hostd.engine.client import translate_errors
from hostd.engine.datavol import DataImages
from hostd.naming import INSTANCE_LABEL, PROJECT_LABEL

log = logging.getLogger("hostd.engine")
MOUNT_POINT = "/data"


def data_volume_name(instance: str, project_id: str) -> str:
    return f"hostd-{instance}-data-{project_id}"


def ensure_data_volume(client: docker.DockerClient, instance: str, project_id: str,
                       images: DataImages | None = None) -> str:
    """The project's volume, made (labelled) on first use; its name. With `images`, its
    filesystem is made and mounted first (again after a reboot), and a new volume binds
    it."""
    name = data_volume_name(instance, project_id)
    with translate_errors(f"create volume {name}"):
        try:
            options = client.volumes.get(name).attrs.get("Options") or {}
        except docker.errors.NotFound:
            options = None
    if images is None:
        if options is None:
            _create(client, name, instance, project_id, None)
        return name
    if options is not None and options.get("device") != str(images.source(project_id)):
        log.warning("the /data of project %s is a volume made before its size limit "
                    "(HOSTD_DATA_MB): it has none", project_id)
        return name
    source = images.ensure(project_id)
    if options is None:
        _create(client, name, instance, project_id,
                {"type": "none", "o": "bind", "device": str(source)})
    return name


def _create(client: docker.DockerClient, name: str, instance: str, project_id: str,
            options: dict[str, str] | None) -> None:
    with translate_errors(f"create volume {name}"):
        client.volumes.create(name, driver="local", driver_opts=options,
                              labels={INSTANCE_LABEL: instance, PROJECT_LABEL: project_id})


def data_mount(name: str) -> list[Mount]:
    """The volume at /data, as a volume mount (never a bind of a host path)."""
    return [Mount(target=MOUNT_POINT, source=name, type="volume")]


def data_volumes(client: docker.DockerClient, instance: str) -> dict[str, str]:
    """This instance's data volumes: project id → volume name."""
    with translate_errors("list volumes"):
        found = client.volumes.list(filters={"label": f"{INSTANCE_LABEL}={instance}"})
    return {volume.attrs["Labels"][PROJECT_LABEL]: volume.name for volume in found
            if PROJECT_LABEL in (volume.attrs.get("Labels") or {})}


def remove_data_volume(client: docker.DockerClient, instance: str, project_id: str,
                       images: DataImages | None = None) -> bool:
    """Remove it (its data is gone for good), and then its filesystem (unmounted, the
    file removed); False when there was no volume."""
    name = data_volume_name(instance, project_id)
    with translate_errors(f"remove volume {name}"):
        try:
            client.volumes.get(name).remove(force=True)
            removed = True
        except docker.errors.NotFound:
            removed = False
    if images is not None:
        images.release(project_id)
    return removed
