"""A project's app container: made with its config vars and limits, or removed.

Shared by the deploy steps and the lifecycle (start, config changes, bringing back).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Collection

from hostd.config import Settings
from hostd.engine import containers as engine
from hostd.engine import egress, usernet
from hostd.engine.client import EngineClient as DockerClient
from hostd.engine.client import EngineError
from hostd.engine.datavol import data_images
from hostd.engine.egress import EgressError
from hostd.engine.volumes import data_mount, ensure_data_volume
from hostd.naming import PROJECT_LABEL, READ_ONLY, ROOTFS_LABEL, USER_LABEL
from hostd.store import configvars


def run_app_container(client: DockerClient, settings: Settings, image: str, name: str,
                      labels: dict[str, str], env: dict[str, str]) -> engine.ContainerInfo:
    """A project's container with its config vars and the limits from settings, on its
    owner's network (egress filtered unless HOSTD_EGRESS=open). Its restart policy
    stays `no`: hostd restarts apps itself (hostd.control.supervisor). An image built
    from a template made for it (its label says so, hostd.control.steps) runs on a
    read-only root filesystem with a small tmpfs /tmp."""
    labels = {**labels, configvars.ENV_LABEL: configvars.fingerprint(env)}
    project_id = labels[PROJECT_LABEL]
    read_only = engine.image_labels(client, image).get(ROOTFS_LABEL) == READ_ONLY
    return engine.run_container(
        client, image, name, labels=labels, env=app_env(settings, env),
        memory_bytes=settings.container_memory_mb * 1024 * 1024,
        nano_cpus=int(settings.container_cpus * 1e9), pids_limit=settings.container_pids,
        log_max_mb=settings.container_log_mb, log_files=settings.container_log_files,
        read_only=read_only, tmp_mb=settings.container_tmp_mb, restart_policy="no",
        network=app_network(client, settings, labels[USER_LABEL]),
        mounts=data_mount(ensure_data_volume(client, settings.instance_label, project_id,
                                             data_images(settings))),
    )


def app_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The config vars, and WEB_CONCURRENCY (gunicorn's and others' worker count) from
    the container's CPU quota unless the owner set it: 2 per CPU plus 1."""
    workers = max(2, int(2 * settings.container_cpus) + 1)
    return {"WEB_CONCURRENCY": str(workers), **env}


def app_network(client: DockerClient, settings: Settings, user_id: str) -> str:
    """The owner's network, with the egress rules in place first: an app never runs
    unfiltered by accident (a failure to set them up fails the deploy, saying so)."""
    if settings.egress == "filtered":
        try:
            egress.ensure_filtered()
        except (EgressError, OSError, subprocess.SubprocessError) as exc:
            raise EngineError(f"could not filter app egress ({exc}); HOSTD_EGRESS=open runs "
                              "apps without it") from exc
    return usernet.ensure_user_network(client, settings.instance_label, user_id,
                                       str(settings.app_subnets))


def remove_project_containers(client: DockerClient, instance: str, project_id: str,
                              say: Callable[[str], None] | None = None,
                              keep: Collection[str | None] = ()) -> None:
    """Every container of the project (but those in `keep`), made by this instance."""
    for state in engine.list_labelled_containers(client, "hostd.project", project_id):
        if state.labels.get("hostd.instance") == instance and state.id not in keep:
            engine.remove_container(client, state.id, force=True)
            if say:
                say(f"removed the previous container {state.name}")
