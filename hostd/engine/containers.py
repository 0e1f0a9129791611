"""Running project containers on the local engine, and checking or removing an image.

Every function takes the client explicitly and names each engine option it sets (no
``**kwargs`` pass-through), so the isolation rules live here and nowhere else:
ports on 127.0.0.1 only, no swap, no new privileges, never privileged, no mounts but a
size-capped tmpfs /tmp under a read-only root, a rotated log; a container goes with its
anonymous volumes (a ``VOLUME`` in its image).
All functions block: call them from a worker thread, not the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from hostd.engine.client import ContainerMissing, translate_errors
from hostd.engine.logs import split_lines

CONTAINER_PORT = 8000
EVENT_ACTIONS = ("start", "kill", "die", "oom", "stop")


@dataclass(frozen=True)
class ContainerInfo:
    """A container just started by :func:`run_container`."""

    id: str
    name: str
    host_port: int | None
    status: str


@dataclass(frozen=True)
class ContainerState:
    """What ``inspect`` says about a container, in the fields hostd uses."""

    id: str
    name: str
    image: str
    status: str  # created | running | restarting | paused | exited | dead
    running: bool
    exit_code: int | None
    oom_killed: bool
    restart_count: int
    restart_policy: str  # "" when the engine sets none
    host_port: int | None
    labels: dict[str, str]
    started_at: datetime | None
    finished_at: datetime | None


# --- images ------------------------------------------------------------------------------


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    """True when the engine has the image ``ref`` (tag or id) locally."""
    with translate_errors(f"inspect image {ref}"):
        try:
            client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return False
    return True


def inspect_image(client: docker.DockerClient, ref: str) -> dict[str, Any] | None:
    """The engine's description of image ``ref``; None when it does not have it."""
    with translate_errors(f"inspect image {ref}"):
        try:
            return dict(client.api.inspect_image(ref))
        except docker.errors.ImageNotFound:
            return None


def image_labels(client: docker.DockerClient, ref: str) -> dict[str, str]:
    """The labels of image ``ref``; empty when the engine does not have it."""
    attrs = inspect_image(client, ref) or {}
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def remove_image(client: docker.DockerClient, tag_or_id: str, force: bool = False) -> bool:
    """Remove an image; False when it was already gone."""
    with translate_errors(f"remove image {tag_or_id}"):
        try:
            client.api.remove_image(tag_or_id, force=force)
        except docker.errors.ImageNotFound:
            return False
    return True


# --- containers --------------------------------------------------------------------------


# Of Docker's default capabilities, those a web app never needs and an untrusted one
# could misuse: NET_RAW forges packets on the shared bridge (ARP spoofing of other users'
# containers), MKNOD makes device nodes, the rest change files' or processes' capabilities
# and chroot. What a root process in a repository's own image may need to start (chown,
# setuid to its own user, binding a port) stays.
DROPPED_CAPABILITIES = ("NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SETPCAP", "SYS_CHROOT")


def rotated_log(max_mb: int, files: int) -> docker.types.LogConfig:
    """json-file (what ``container_logs`` reads), rotated at ``max_mb``, ``files`` kept:
    a container that prints forever holds at most their product on the host's disk."""
    return docker.types.LogConfig(type=docker.types.LogConfig.types.JSON,
                                  config={"max-size": f"{max_mb}m", "max-file": str(files)})


def run_container(
    client: docker.DockerClient,
    image: str,
    name: str,
    *,
    labels: dict[str, str],
    env: dict[str, str],
    memory_bytes: int,
    nano_cpus: int,
    pids_limit: int,
    log_max_mb: int = 10,
    log_files: int = 3,
    read_only: bool = False,
    tmp_mb: int = 64,
    port: int | None = CONTAINER_PORT,
    restart_policy: str = "no",
    network: str | None = None,
    mounts: list[Mount] | None = None,
    command: list[str] | None = None,
) -> ContainerInfo:
    """Create and start a container; its ``port`` is published on 127.0.0.1 only.

    The engine picks the host port (read back from inspect). ``PORT`` is set in the
    environment; ``port`` None: neither (a process type that serves no HTTP). Memory equals
    memory+swap (no swap); no new privileges. Its log is
    json-file (read back by ``container_logs``) rotated at ``log_max_mb``, ``log_files``
    kept. ``read_only``: a read-only root filesystem and a ``tmp_mb`` tmpfs on /tmp, the
    only place left to write. A container that fails to start is removed before raising.
    """
    what = f"run container {name} from {image}"
    log_config = rotated_log(log_max_mb, log_files)
    tmpfs = {"/tmp": f"rw,nosuid,nodev,noexec,size={tmp_mb}m"} if read_only else None  # noqa: S108
    with translate_errors(what):
        container = client.containers.create(
            image=image,
            name=name,
            labels=labels,
            command=command,  # None: the image's own
            environment=env if port is None else {**env, "PORT": str(port)},
            ports=None if port is None else {f"{port}/tcp": ("127.0.0.1", None)},
            mem_limit=memory_bytes,
            memswap_limit=memory_bytes,
            nano_cpus=nano_cpus,
            pids_limit=pids_limit,
            security_opt=["no-new-privileges"],
            cap_drop=list(DROPPED_CAPABILITIES),
            privileged=False,
            init=True,  # reaps zombies, forwards signals to shell-form commands
            restart_policy={"Name": restart_policy},
            network=network,  # None: the engine's default bridge
            mounts=mounts,
            log_config=log_config,
            read_only=read_only,
            tmpfs=tmpfs,
            detach=True,
        )
        try:
            container.start()
        except docker.errors.APIError:
            container.remove(force=True, v=True)
            raise
    state = inspect_container(client, container.id)
    if state is None:
        raise ContainerMissing(f"container {name} vanished right after it started")
    return ContainerInfo(id=state.id, name=state.name, host_port=state.host_port,
                         status=state.status)


def _get(client: docker.DockerClient, container_id: str, what: str) -> Any:
    with translate_errors(f"{what} {container_id}", not_found=ContainerMissing):
        return client.containers.get(container_id)


def set_restart_policy(client: docker.DockerClient, container_id: str, policy: str) -> None:
    """hostd's app containers keep `no`: hostd restarts them (hostd.control.supervisor);
    a container made by an older hostd may still carry `unless-stopped`."""
    container = _get(client, container_id, "update container")
    with translate_errors(f"update container {container_id}", not_found=ContainerMissing):
        container.update(restart_policy={"Name": policy})


def start_container(client: docker.DockerClient, container_id: str) -> None:
    """Start a stopped container (no-op when running). Raises ContainerMissing."""
    container = _get(client, container_id, "start container")
    with translate_errors(f"start container {container_id}", not_found=ContainerMissing):
        container.start()


def stop_container(client: docker.DockerClient, container_id: str, timeout: int = 10) -> None:
    """Stop (SIGTERM, then SIGKILL after ``timeout`` s). Raises ContainerMissing."""
    container = _get(client, container_id, "stop container")
    with translate_errors(f"stop container {container_id}", not_found=ContainerMissing):
        container.stop(timeout=timeout)


def restart_container(client: docker.DockerClient, container_id: str, timeout: int = 10) -> None:
    """Restart (stop with ``timeout``, then start). Raises ContainerMissing."""
    container = _get(client, container_id, "restart container")
    with translate_errors(f"restart container {container_id}", not_found=ContainerMissing):
        container.restart(timeout=timeout)


def remove_container(client: docker.DockerClient, container_id: str, force: bool = False) -> bool:
    """Remove a container (``force`` kills a running one) and its anonymous volumes (a
    ``VOLUME`` of its image would otherwise stay on disk for good); False when already
    gone, or going (another thread of hostd's removes it: a drained container, say).
    Named volumes (a project's /data) stay."""
    with translate_errors(f"remove container {container_id}"):
        try:
            client.api.remove_container(container_id, v=True, force=force)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in str(exc):
                return False
            raise
    return True


def inspect_container(client: docker.DockerClient, container_id: str) -> ContainerState | None:
    """The container's state, or None when it does not exist."""
    with translate_errors(f"inspect container {container_id}"):
        try:
            attrs = client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
    return _state_from_attrs(attrs)


def list_labelled_containers(
    client: docker.DockerClient, label_key: str, value: str | None = None
) -> list[ContainerState]:
    """All containers (running or not) carrying ``label_key`` (equal to ``value`` if given)."""
    label = label_key if value is None else f"{label_key}={value}"
    with translate_errors(f"list containers labelled {label}"):
        summaries = client.api.containers(all=True, filters={"label": label})
    states = (inspect_container(client, summary["Id"]) for summary in summaries)
    # A container removed between the list and its inspect is simply not listed.
    return [state for state in states if state is not None]


def _state_from_attrs(attrs: dict[str, Any]) -> ContainerState:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    status = str(state.get("Status", "unknown"))
    running = bool(state.get("Running"))
    return ContainerState(
        id=attrs["Id"],
        name=str(attrs.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        status=status,
        running=running,
        # ExitCode is 0 before a first start and while up: only meaningful once it exited
        # (a "restarting" container is Running but carries its last exit code).
        exit_code=None if status in ("created", "running", "paused") else state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        restart_policy=str(((attrs.get("HostConfig") or {}).get("RestartPolicy") or {})
                           .get("Name") or ""),
        host_port=_host_port(attrs),
        labels=dict(config.get("Labels") or {}),
        started_at=_parse_time(state.get("StartedAt")),
        finished_at=_parse_time(state.get("FinishedAt")),
    )


def _host_port(attrs: dict[str, Any], port: int = CONTAINER_PORT) -> int | None:
    # Only while running does NetworkSettings carry the binding the engine chose.
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{port}/tcp") or []:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def _parse_time(value: str | None) -> datetime | None:
    """Parse the engine's RFC 3339 nanosecond timestamps; its zero time means None."""
    if not value or value.startswith("0001-01-01"):
        return None
    head, _, rest = value.partition(".")
    if rest:
        digits = rest.rstrip("Z").split("+")[0].split("-")[0]
        zone = rest[len(digits):]
        head = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(head.replace("Z", "+00:00"))


# --- logs, events ------------------------------------------------------------------


def container_logs(
    client: docker.DockerClient,
    container_id: str,
    tail: int = 100,
    follow: bool = False,
    timestamps: bool = False,
) -> Iterator[str]:
    """The container's stdout+stderr as decoded lines; with ``follow``, until it stops."""
    container = _get(client, container_id, "logs of container")
    with translate_errors(f"logs of container {container_id}", not_found=ContainerMissing):
        stream = container.logs(stream=True, follow=follow, tail=tail, timestamps=timestamps)
        try:
            yield from split_lines(stream)
        finally:
            stream.close()


def engine_events(
    client: docker.DockerClient,
    label: str,
    since: datetime | int | None = None,
    until: datetime | int | None = None,
) -> Iterator[dict[str, Any]]:
    """Container start/die/oom/stop events for containers with ``label`` ("key" or "k=v").

    Blocks waiting for events; ends at ``until`` when given. Each event is the engine's
    dict (``status``/``Action``, ``id``, ``Actor.Attributes`` with the labels, ``time``).
    """
    filters = {"type": "container", "label": label, "event": list(EVENT_ACTIONS)}
    with translate_errors(f"follow engine events for {label}"):
        stream = client.events(since=since, until=until, filters=filters, decode=True)
        try:
            yield from stream
        finally:
            stream.close()

