"""The build network: from hostd's own pool, made for the first build of an instance,
gone after the last; concurrent first builds make exactly one."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import docker
import pytest

from hostd.engine.networks import BuildNetworks, build_network_name
from hostd.engine.usernet import DEFAULT_POOL
from tests.support import SESSION_PREFIX


@pytest.fixture
def instance(docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"{SESSION_PREFIX}-net-{uuid.uuid4().hex[:6]}"
    yield name
    for network in docker_client.networks.list(filters={"label": f"hostd.instance={name}"}):
        network.remove()


def named(client: docker.DockerClient, name: str) -> list:
    return [net for net in client.networks.list(names=[name]) if net.name == name]


def test_concurrent_builds_share_one_network_from_the_pool_gone_after_the_last(
        docker_client: docker.DockerClient, instance: str) -> None:
    networks, name = BuildNetworks(), build_network_name(instance)
    all_in, release = threading.Barrier(9), threading.Event()  # 8 builds and the test

    def build(_: int) -> str:
        with networks.held(docker_client, instance) as network:
            all_in.wait(timeout=60)
            release.wait(timeout=60)
            return network

    with ThreadPoolExecutor(8) as pool:
        made = [pool.submit(build, i) for i in range(8)]
        all_in.wait(timeout=60)
        holders = networks.holders(instance)
        found = named(docker_client, name)
        release.set()
        assert [future.result() for future in made] == [name] * 8
    assert holders == 8
    assert len(found) == 1, found
    subnet = ip_network(found[0].attrs["IPAM"]["Config"][0]["Subnet"])
    assert subnet.subnet_of(ip_network(DEFAULT_POOL)) and subnet.prefixlen == 26  # type: ignore[arg-type]
    assert found[0].attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert named(docker_client, name) == [], "the last build to end removes it"
    assert networks.holders(instance) == 0


def test_an_old_build_network_from_the_default_pools_is_replaced(
        docker_client: docker.DockerClient, instance: str) -> None:
    """What an older hostd left: made from the engine's default pools, never removed."""
    name = build_network_name(instance)
    docker_client.networks.create(name, driver="bridge", labels={"hostd.instance": instance})
    networks = BuildNetworks()
    with networks.held(docker_client, instance):
        (found,) = named(docker_client, name)
        subnet = ip_network(found.attrs["IPAM"]["Config"][0]["Subnet"])
        assert subnet.subnet_of(ip_network(DEFAULT_POOL))  # type: ignore[arg-type]
    assert named(docker_client, name) == []


def test_the_reconciler_removes_a_leftover_but_not_a_network_in_use(
        docker_client: docker.DockerClient, instance: str) -> None:
    networks, name = BuildNetworks(), build_network_name(instance)
    with networks.held(docker_client, instance):
        networks.remove_unused(docker_client, instance)
        assert len(named(docker_client, name)) == 1, "a build holds it"
    crashed = BuildNetworks()  # a daemon that stopped mid-build left its network
    with crashed.held(docker_client, instance):
        restarted = BuildNetworks()
        restarted.remove_unused(docker_client, instance)
        assert named(docker_client, name) == []

