"""The build network: concurrent first builds of an instance make exactly one."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from hostd.engine.networks import build_network_name, ensure_build_network
from tests.support import SESSION_PREFIX


def test_concurrent_first_builds_make_one_network(docker_client: docker.DockerClient) -> None:
    instance = f"{SESSION_PREFIX}-net-{uuid.uuid4().hex[:6]}"
    name = build_network_name(instance)
    try:
        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda _: ensure_build_network(docker_client, instance),
                                 range(8)))
        assert made == [name] * 8
        assert [n.name for n in docker_client.networks.list(names=[name])
                if n.name == name] == [name]
    finally:
        for network in docker_client.networks.list(filters={"label": f"hostd.instance={instance}"}):
            network.remove()
