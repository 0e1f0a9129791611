"""DockerRuntime: the Runtime port (hostd.control.runtime) on the local Docker engine.

Today's engine code, unchanged in behaviour, behind the port: a replica is one container,
its address the loopback port the engine published for it. Every app container runs with
the limits from settings, on its owner's network (egress filtered unless HOSTD_EGRESS=open),
with its project's /data, and read-only when its image was built for it.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Set

from docker.types import Mount

from hostd.config import Settings
from hostd.control.runtime import (
    WEB,
    Address,
    BuildRequest,
    BuiltImage,
    ContainerMissing,
    EngineError,
    LogFollower,
    LogLine,
    ProcessGroup,
    ProcessSpec,
    Replica,
    RuntimeEvent,
    Usage,
)
from hostd.engine import containers, egress, health, oneoff, project_images, usernet, volumes
from hostd.engine.datavol import DataImages
from hostd.engine.docker_build import build_release
from hostd.engine.egress import EgressError
from hostd.engine.handle import DockerHandle
from hostd.engine.logs import LogStream, last_lines, read_timed
from hostd.engine.networks import BUILD_NETWORKS
from hostd.engine.stats import ApiSampler, read_cgroups
from hostd.naming import INSTANCE_LABEL, PROCESS_LABEL, PROJECT_LABEL, READ_ONLY, ROOTFS_LABEL

log = logging.getLogger("hostd.reconcile")
LOOPBACK = "127.0.0.1"  # where the engine publishes every app's port


class DockerRuntime:
    """The port on one Docker engine; built once by Services."""

    def __init__(self, settings: Settings, handle: DockerHandle,
                 data: DataImages | None) -> None:
        self._settings = settings
        self._handle = handle
        self._data = data
        self._instance = settings.instance_label
        self._sampler = ApiSampler()

    @property
    def handle(self) -> DockerHandle:
        """The engine connection (for the engine's own tools: bootstrap, uninstall)."""
        return self._handle

    def close(self) -> None:
        self._sampler.close()
        self._handle.close()

    # --- the engine itself -------------------------------------------------------------------
    def reachable(self) -> bool:
        return self._handle.reachable()

    def reset(self) -> None:
        self._handle.reset()

    # --- process groups ------------------------------------------------------------------------
    def run(self, spec: ProcessSpec) -> ProcessGroup:
        client = self._handle.client()
        settings = self._settings
        read_only = containers.image_labels(client, spec.image).get(ROOTFS_LABEL) == READ_ONLY
        started = []
        for index in range(spec.replicas):
            name = spec.name if spec.replicas == 1 else f"{spec.name}.{index + 1}"
            info = containers.run_container(
                client, spec.image, name, labels={**self._labels(spec),
                                                  PROCESS_LABEL: spec.process},
                env=dict(spec.env),
                memory_bytes=settings.container_memory_mb * 1024 * 1024,
                nano_cpus=int(settings.container_cpus * 1e9),
                pids_limit=settings.container_pids, log_max_mb=settings.container_log_mb,
                log_files=settings.container_log_files, read_only=read_only,
                tmp_mb=settings.container_tmp_mb, restart_policy="no",
                network=self._network(spec.user_id), mounts=self._data_mount(spec.project_id),
                # Only web gets $PORT and a published port (the router's); the other
                # process types run their Procfile command (issue 26).
                command=None if spec.command is None else list(spec.command),
                port=containers.CONTAINER_PORT if spec.process == WEB else None)
            started.append(self._replica_or_missing(info.id, info.name))
        return ProcessGroup(spec=spec, replicas=tuple(started))

    def inspect(self, replica_id: str) -> Replica | None:
        state = containers.inspect_container(self._handle.client(), replica_id)
        return None if state is None else _replica(state)

    def start(self, replica_id: str) -> None:
        client = self._handle.client()
        containers.set_restart_policy(client, replica_id, "no")  # hostd restarts apps itself
        containers.start_container(client, replica_id)

    def stop(self, replica_id: str, timeout_s: int = 10) -> None:
        containers.stop_container(self._handle.client(), replica_id, timeout=timeout_s)

    def remove(self, replica_id: str) -> bool:
        return containers.remove_container(self._handle.client(), replica_id, force=True)

    def replicas(self, project_id: str | None = None) -> list[Replica]:
        client = self._handle.client()
        if project_id is None:
            states = containers.list_labelled_containers(client, INSTANCE_LABEL, self._instance)
        else:
            states = [state for state in containers.list_labelled_containers(
                client, PROJECT_LABEL, project_id)
                if state.labels.get(INSTANCE_LABEL) == self._instance]
        return [_replica(state) for state in states]

    def adopt(self, replica_id: str, user_id: str) -> Replica | None:
        """A replica found running at start: made to follow today's rules (no engine
        restart policy, on its owner's network only); as it is after (its port may move)."""
        client = self._handle.client()
        state = containers.inspect_container(client, replica_id)
        if state is None:
            return None
        if state.restart_policy not in ("", "no"):  # made by an older hostd
            containers.set_restart_policy(client, replica_id, "no")
        usernet.ensure_user_network(client, self._instance, user_id,
                                    str(self._settings.app_subnets))
        if usernet.move_onto_user_network(client, replica_id, self._instance, user_id):
            state = containers.inspect_container(client, replica_id) or state
        return _replica(state)

    def wait_serving(self, replica_id: str, timeout_s: float,
                     path: str = "/") -> tuple[str | None, Address | None]:
        problem, port = health.wait_until_serving(self._handle.client(), replica_id,
                                                  timeout_s, path)
        return problem, None if port is None else Address(LOOPBACK, port)

    def logs(self, replica_id: str, tail: int) -> list[str]:
        return last_lines(containers.container_logs(self._handle.client(), replica_id,
                                                    tail=tail), tail)

    def timed_logs(self, replica_id: str, tail: int) -> list[LogLine]:
        return read_timed(self._handle.client(), replica_id, tail)

    def follow_logs(self, replica_id: str, tail: int,
                    since_ns: int | None = None) -> LogFollower:
        return LogStream(self._handle.client(), replica_id, tail, since_ns)

    def events(self) -> Iterator[RuntimeEvent]:
        # `since` now, taken before the caller reconciles: the engine replays from it.
        raw = containers.engine_events(self._handle.client(),
                                       f"{INSTANCE_LABEL}={self._instance}",
                                       since=int(time.time()))
        return _runtime_events(raw)

    def usage(self, replica_ids: Set[str], deadline_s: float) -> dict[str, Usage]:
        readings = read_cgroups(replica_ids)  # the host's cgroup files: cheap
        missing = [rid for rid in replica_ids if rid not in readings]
        if missing and self._handle.reachable():
            readings.update(self._sampler.read(self._handle.client(), missing, deadline_s))
        return readings

    # --- one-off runs --------------------------------------------------------------------------
    def run_once(self, spec: ProcessSpec) -> Replica:
        assert spec.command, "a one-off run needs its argv"
        client, settings = self._handle.client(), self._settings
        replica_id = oneoff.start_oneoff(
            client, spec.image, spec.name, list(spec.command), labels=self._labels(spec),
            env=dict(spec.env), memory_bytes=settings.container_memory_mb * 1024**2,
            nano_cpus=int(settings.container_cpus * 1e9), pids_limit=settings.container_pids,
            log_max_mb=settings.container_log_mb, log_files=settings.container_log_files,
            network=self._network(spec.user_id), mounts=self._data_mount(spec.project_id))
        return self._replica_or_missing(replica_id, spec.name)

    def wait_exit(self, replica_id: str, timeout_s: float) -> int | None:
        return oneoff.exit_code(self._handle.client(), replica_id, timeout_s)

    # --- images --------------------------------------------------------------------------------
    def build(self, request: BuildRequest, stages: Callable[[list[str]], None]) -> BuiltImage:
        return build_release(self._handle.client(), self._settings, request, stages)

    def image_exists(self, ref: str) -> bool:
        return containers.image_exists(self._handle.client(), ref)

    def image_labels(self, ref: str) -> dict[str, str]:
        return containers.image_labels(self._handle.client(), ref)

    def remove_image(self, ref: str, force: bool = False) -> bool:
        return containers.remove_image(self._handle.client(), ref, force=force)

    def project_images(self, project_id: str) -> list[str]:
        return project_images.project_images(self._handle.client(), self._instance,
                                             project_id)

    def instance_images(self) -> dict[str, list[str]]:
        return project_images.instance_images(self._handle.client(), self._instance)

    def untagged_among(self, image_ids: Set[str]) -> list[str]:
        return project_images.untagged_among(self._handle.client(), image_ids)

    # --- networks and data ---------------------------------------------------------------------
    def remove_user_network(self, user_id: str) -> None:
        usernet.remove_user_network(self._handle.client(), self._instance, user_id)

    def remove_unused_networks(self, user_ids: Set[str]) -> None:
        client = self._handle.client()
        for user_id in set(usernet.user_networks(client, self._instance)) - set(user_ids):
            log.info("removing the network of user %s: no project of theirs is left", user_id)
            usernet.remove_user_network(client, self._instance, user_id)

    def remove_unused_build_network(self) -> bool:
        return BUILD_NETWORKS.remove_unused(self._handle.client(), self._instance)

    def mount_data(self, project_ids: Set[str]) -> None:
        if self._data is not None:
            self._data.mount_existing(set(project_ids))

    def remove_data(self, project_id: str) -> None:
        volumes.remove_data_volume(self._handle.client(), self._instance, project_id,
                                   self._data)

    def data_owners(self) -> set[str]:
        owners = set(volumes.data_volumes(self._handle.client(), self._instance))
        if self._data is not None:  # a filesystem whose volume went, but not it (busy)
            owners |= self._data.project_ids()
        return owners

    # --- what every container gets --------------------------------------------------------------
    def _labels(self, spec: ProcessSpec) -> dict[str, str]:
        labels = {**spec.labels, INSTANCE_LABEL: self._instance}
        if spec.command is None:  # a process of the release (a one-off carries no type)
            labels[PROCESS_LABEL] = spec.process
        return labels

    def _network(self, user_id: str) -> str:
        """The owner's network, with the egress rules in place first: an app never runs
        unfiltered by accident (a failure to set them up fails the deploy, saying so)."""
        if self._settings.egress == "filtered":
            try:
                egress.ensure_filtered()
            except (EgressError, OSError, subprocess.SubprocessError) as exc:
                raise EngineError(f"could not filter app egress ({exc}); HOSTD_EGRESS=open "
                                  "runs apps without it") from exc
        return usernet.ensure_user_network(self._handle.client(), self._instance, user_id,
                                           str(self._settings.app_subnets))

    def _data_mount(self, project_id: str) -> list[Mount]:
        return volumes.data_mount(volumes.ensure_data_volume(
            self._handle.client(), self._instance, project_id, self._data))

    def _replica_or_missing(self, replica_id: str, name: str) -> Replica:
        replica = self.inspect(replica_id)
        if replica is None:
            raise ContainerMissing(f"container {name} vanished right after it "
                                              "started")
        return replica


def _replica(state: containers.ContainerState) -> Replica:
    project_id = state.labels.get(PROJECT_LABEL)
    return Replica(
        id=state.id, name=state.name, project_id=project_id,
        process=state.labels.get(PROCESS_LABEL, WEB), image=state.image, state=state.status,
        running=state.running, exit_code=state.exit_code, oom_killed=state.oom_killed,
        address=None if state.host_port is None else Address(LOOPBACK, state.host_port),
        labels=dict(state.labels), started_at=state.started_at, finished_at=state.finished_at)


def _runtime_events(raw: Iterator[dict[str, object]]) -> Iterator[RuntimeEvent]:
    for event in raw:
        actor = event.get("Actor")
        attrs = (actor.get("Attributes") if isinstance(actor, dict) else None) or {}
        code = attrs.get("exitCode")
        yield RuntimeEvent(action=str(event.get("Action") or event.get("status") or ""),
                           replica_id=str(event.get("id", "")),
                           project_id=attrs.get(PROJECT_LABEL),
                           exit_code=int(code) if code is not None else None)
