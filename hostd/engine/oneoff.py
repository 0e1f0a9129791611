"""One-off containers: a command run once in a fresh container of a project's image.

The same image, config vars, limits and network as the app's containers, and the same
hardening (hostd.engine.containers), but no published port: no router traffic reaches
it. The command is an argv list that replaces the image's entrypoint and command, so no
shell is involved unless the user's argv starts one.
"""

from __future__ import annotations

import docker
import docker.errors
from docker.types import Mount

from hostd.engine.client import ContainerMissing, translate_errors
from hostd.engine.containers import DROPPED_CAPABILITIES, rotated_log


def start_oneoff(
    client: docker.DockerClient, image: str, name: str, argv: list[str], *,
    labels: dict[str, str], env: dict[str, str], memory_bytes: int, nano_cpus: int,
    pids_limit: int, log_max_mb: int, log_files: int, network: str,
    mounts: list[Mount] | None = None,
) -> str:
    """Create and start the container; its id. Removed again if it fails to start. Its
    log is rotated as an app's (json-file, `log_max_mb` a file, `log_files` kept)."""
    with translate_errors(f"run {argv[0]!r} from {image}"):
        container = client.containers.create(
            image=image, name=name, labels=labels, environment=env,
            entrypoint=argv[:1], command=argv[1:],
            mem_limit=memory_bytes, memswap_limit=memory_bytes, nano_cpus=nano_cpus,
            pids_limit=pids_limit, security_opt=["no-new-privileges"],
            cap_drop=list(DROPPED_CAPABILITIES), privileged=False, init=True,
            network=network, mounts=mounts, log_config=rotated_log(log_max_mb, log_files),
            detach=True,
        )
        try:
            container.start()
        except docker.errors.APIError:
            container.remove(force=True)
            raise
    return str(container.id)


def exit_code(client: docker.DockerClient, container_id: str, timeout_s: float) -> int | None:
    """Its exit code once it has exited; None if it still runs after `timeout_s`."""
    with translate_errors(f"wait for container {container_id}", not_found=ContainerMissing):
        container = client.containers.get(container_id)
        try:
            result = container.wait(timeout=timeout_s)
        except (docker.errors.APIError, OSError):  # includes the read timeout
            return None
    return int(result.get("StatusCode", -1))
