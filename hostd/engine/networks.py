"""The network builds run on: a bridge per daemon instance, held only while builds run.

Build steps never join the apps' bridges (where they could reach running apps): they get
a bridge of their own with inter-container traffic off, so two users' concurrent builds
can't reach each other either. Outbound traffic (pip, npm) goes out as on any bridge.

Its subnet is a /26 of hostd's own pool (HOSTD_APP_SUBNETS, hostd.engine.usernet), never
one of the engine's default pools, which every other project on the engine shares. And
it exists only while builds need it: the first build of the instance makes it, the last
one to end removes it (counted under a lock). A removal the engine refuses (a step
container of another daemon with the same label still on it) is left for the next build
to end, or for the reconciler at start-up, which also removes one a crash left.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import docker
import docker.errors

from hostd.engine.client import EngineError, translate_errors
from hostd.engine.usernet import DEFAULT_POOL, NETWORK_LABEL, create_in_pool
from hostd.naming import INSTANCE_LABEL

log = logging.getLogger("hostd.engine")
ICC_OPTION = "com.docker.network.bridge.enable_icc"
BUILD_ROLE = "build"  # its NETWORK_LABEL


def build_network_name(instance: str) -> str:
    return f"hostd-build-{instance}"


class BuildNetworks:
    """How many builds of each instance hold its build network, in this process.

    Creation and removal happen under the lock, so a build never starts on a network
    another thread is removing, and concurrent first builds make one network, not two
    (the engine takes two networks of one name, and every build after that fails on
    the ambiguous name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, int] = {}

    @contextlib.contextmanager
    def held(self, client: docker.DockerClient, instance: str,
             pool: str = DEFAULT_POOL) -> Iterator[str]:
        """The instance's build network for one build; made for the first, removed
        after the last."""
        with self._lock:
            if not self._holders.get(instance):
                ensure_build_network(client, instance, pool)
            self._holders[instance] = self._holders.get(instance, 0) + 1
        try:
            yield build_network_name(instance)
        finally:
            with self._lock:
                self._holders[instance] -= 1
                if not self._holders[instance]:
                    del self._holders[instance]
                    remove_build_network(client, instance)

    def holders(self, instance: str) -> int:
        with self._lock:
            return self._holders.get(instance, 0)

    def remove_unused(self, client: docker.DockerClient, instance: str) -> bool:
        """Remove the instance's build network unless a build here holds it (the
        reconciler: one left by a crash, or by a removal the engine refused); True when
        no unheld network is left."""
        with self._lock:
            if self._holders.get(instance):
                return True
            return remove_build_network(client, instance)


# One per process, like the network it counts (the control plane's builds and its
# reconciler share it).
BUILD_NETWORKS = BuildNetworks()


def ensure_build_network(client: docker.DockerClient, instance: str,
                         pool: str = DEFAULT_POOL) -> str:
    """The instance's build network, made from `pool` when missing; returns its name.
    One made by an older hostd from the engine's default pools is replaced."""
    name = build_network_name(instance)
    with translate_errors(f"create network {name}"):
        # The engine's name filter matches substrings: compare whole names.
        found = [net for net in client.networks.list(names=[name]) if net.name == name]
    if any(_labels(net).get(NETWORK_LABEL) == BUILD_ROLE for net in found):
        return name
    if found:
        remove_build_network(client, instance)
        if _exists(client, name):  # in use: a build of another daemon with this label
            return name
    subnet = create_in_pool(client, name, pool, {ICC_OPTION: "false"},
                            {INSTANCE_LABEL: instance, NETWORK_LABEL: BUILD_ROLE})
    if subnet is not None:
        log.info("made build network %s (%s)", name, subnet)
    return name


def remove_build_network(client: docker.DockerClient, instance: str) -> bool:
    """Remove the instance's build network; kept (logged, False) when the engine refuses
    or is away: never raised, since a build's own outcome is what its deploy reports."""
    name = build_network_name(instance)
    try:
        with translate_errors(f"remove network {name}"):
            for net in client.networks.list(names=[name]):
                if net.name != name:
                    continue
                try:
                    net.remove()
                    log.info("removed build network %s", name)
                except docker.errors.APIError as exc:
                    if exc.status_code != 404:  # gone already: done
                        raise
    except EngineError as exc:  # tried again when the next build ends
        log.warning("build network %s stays for now: %s", name, exc)
        return False
    return True


def _exists(client: docker.DockerClient, name: str) -> bool:
    with translate_errors(f"list network {name}"):
        return any(net.name == name for net in client.networks.list(names=[name]))


def _labels(net: docker.models.networks.Network) -> dict[str, str]:
    return dict(net.attrs.get("Labels") or {})
