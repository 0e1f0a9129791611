"""The network builds run on: one bridge per daemon instance, containers can't talk.

Build steps never join the apps' bridge (where they could reach running apps): they get
a bridge of their own with inter-container traffic off, so two users' concurrent builds
can't reach each other either. Outbound traffic (pip, npm) goes out as on any bridge.
"""

from __future__ import annotations

import threading

import docker
import docker.errors

from hostd.engine.client import translate_errors
from hostd.engine.naming import INSTANCE_LABEL

ICC_OPTION = "com.docker.network.bridge.enable_icc"
# The engine takes two networks of one name unless asked to check (and even then its
# check races): concurrent first builds of an instance would make two, and every build
# after that fails on the ambiguous name. One creation at a time in this process.
_CREATING = threading.Lock()


def build_network_name(instance: str) -> str:
    return f"hostd-build-{instance}"


def ensure_build_network(client: docker.DockerClient, instance: str) -> str:
    """The instance's build network, made on first use; returns its name."""
    name = build_network_name(instance)
    with _CREATING, translate_errors(f"create network {name}"):
        # The engine's name filter matches substrings: compare whole names.
        if any(net.name == name for net in client.networks.list(names=[name])):
            return name
        try:
            client.networks.create(name, driver="bridge", options={ICC_OPTION: "false"},
                                   labels={INSTANCE_LABEL: instance}, check_duplicate=True)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: another build made it meanwhile
                raise
    return name
