"""A network per user: each user's app containers share a bridge of their own.

The engine isolates bridges from each other (its DOCKER-ISOLATION chains), so an app can
reach the other apps of its owner and no one else's, on any port: another tenant's apps
are reachable only through the router, like from anywhere else. The router reaches
apps as before, through their ports published on 127.0.0.1. Each bridge's interface is
named `hdu<hash>`, so hostd.engine.egress can filter what leaves all of them with one
rule per kind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from ipaddress import IPv4Network, ip_network

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from hostd.engine.client import EngineError, translate_errors
from hostd.naming import INSTANCE_LABEL, USER_LABEL

log = logging.getLogger("hostd.engine")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
INTERFACE_PREFIX = "hdu"  # + 12 hex: within Linux's 15-character interface names
NETWORK_LABEL = "hostd.network"  # "user": what hostd.control.reconcile looks for
DEFAULT_POOL = "10.213.0.0/16"  # HOSTD_APP_SUBNETS: 1,024 users' networks
SUBNET_PREFIX = 26  # 61 addresses: a user's apps, twice over while they are replaced


def user_network_name(instance: str, user_id: str) -> str:
    return f"hostd-{instance}-user-{user_id}"


def interface_name(instance: str, user_id: str) -> str:
    digest = hashlib.sha256(f"{instance}/{user_id}".encode()).hexdigest()
    return INTERFACE_PREFIX + digest[:12]


def ensure_user_network(client: docker.DockerClient, instance: str, user_id: str,
                        pool: str = DEFAULT_POOL) -> str:
    """The user's network, made on first use with a subnet of its own from `pool` (by
    any thread: a 409 means another made it meanwhile); returns its name."""
    name = user_network_name(instance, user_id)
    with translate_errors(f"create network {name}"):
        # The engine's name filter matches substrings: compare whole names.
        if any(net.name == name for net in client.networks.list(names=[name])):
            return name
    subnet = create_in_pool(client, name, pool, {
        BRIDGE_NAME_OPTION: interface_name(instance, user_id)}, {
        INSTANCE_LABEL: instance, USER_LABEL: user_id, NETWORK_LABEL: "user"})
    if subnet is not None:
        log.info("made network %s (%s) for user %s", name, subnet, user_id)
    return name


def create_in_pool(client: docker.DockerClient, name: str, pool: str,
                   options: dict[str, str], labels: dict[str, str]) -> IPv4Network | None:
    """Make bridge `name` on the first free subnet of `pool`; its subnet, or None when
    the network was made meanwhile (a 409: by another thread or daemon).

    Every network hostd makes comes from its own pool, never the engine's default
    pools (a /16 or /20 each, about thirty in all, shared by everything on the engine).
    Another install on the engine picks from the same pool: when it took a subnet
    between our listing and our create, the engine refuses the overlap and the next
    free one is tried."""
    with translate_errors(f"create network {name}"):
        for subnet in free_subnets(client, pool):
            try:
                client.networks.create(
                    name, driver="bridge", options=options, labels=labels,
                    ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
                    check_duplicate=True)
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # made meanwhile
                    return None
                if "overlap" in str(exc).lower():  # another network took it meanwhile
                    continue
                raise
            return subnet
    raise EngineError(f"no free /{SUBNET_PREFIX} subnet is left in {pool} for {name} "
                      "(HOSTD_APP_SUBNETS)")


def free_subnets(client: docker.DockerClient, pool: str) -> Iterator[IPv4Network]:
    """The /26 subnets of `pool` no network on the engine overlaps, in order."""
    taken: list[IPv4Network] = []
    for net in client.networks.list():
        for config in ((net.attrs.get("IPAM") or {}).get("Config") or []):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                found = ip_network(config["Subnet"], strict=False)
                if isinstance(found, IPv4Network):
                    taken.append(found)
    for subnet in ip_network(pool).subnets(new_prefix=SUBNET_PREFIX):
        if isinstance(subnet, IPv4Network) and not any(subnet.overlaps(t) for t in taken):
            yield subnet


def user_networks(client: docker.DockerClient, instance: str) -> dict[str, str]:
    """This instance's user networks: user id → network name."""
    with translate_errors("list networks"):
        found = client.networks.list(filters={"label": [f"{INSTANCE_LABEL}={instance}",
                                                        f"{NETWORK_LABEL}=user"]})
    return {net.attrs["Labels"][USER_LABEL]: net.name for net in found
            if USER_LABEL in (net.attrs.get("Labels") or {})}


def remove_user_network(client: docker.DockerClient, instance: str, user_id: str) -> None:
    """Remove the user's network; kept while a container is still attached to it."""
    name = user_network_name(instance, user_id)
    with translate_errors(f"remove network {name}"):
        for net in client.networks.list(names=[name]):
            if net.name != name:
                continue
            try:
                net.remove()
            except docker.errors.APIError as exc:
                if exc.status_code not in (403, 404, 409):  # in use, or gone already
                    raise


def move_onto_user_network(client: docker.DockerClient, container_id: str, instance: str,
                           user_id: str) -> bool:
    """Put a running container (made before networks per user) on its owner's network
    and off every other; True when it had to move."""
    name = user_network_name(instance, user_id)
    with translate_errors(f"move container {container_id} onto {name}"):
        attrs = client.api.inspect_container(container_id)
        attached = set((attrs.get("NetworkSettings") or {}).get("Networks") or {})
        if attached == {name}:
            return False
        if name not in attached:
            client.api.connect_container_to_network(container_id, name)
        for other in attached - {name}:
            client.api.disconnect_container_from_network(container_id, other)
    log.info("moved container %s onto network %s", container_id[:12], name)
    return True
