"""Two installs on one engine, each with its own data dir and no HOSTD_INSTANCE, as two
operators would start them: started in either order, neither touches the other's apps.

Before installs kept an id, both were `default`, and the second one's start-up
reconcile took every container of the first for an orphan and removed it.
"""

from __future__ import annotations

import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import docker
import httpx
import pytest

from tests.deploy.conftest import create, only_container, wait_status
from tests.plugins.engine import TEST_LABELS, own_daemon, remove_instance_objects
from tests.support import HostdServer, logged_in, tls

RECONCILED = "following Docker engine events"  # logged once the start-up reconcile is done
ID = re.compile(r"^i-[0-9a-f]{12}$")


def deploy_site(client: httpx.Client, repo, name: str) -> dict:
    project = create(client, name, repo({"index.html": f"<h1>the {name} site</h1>\n"}),
                     "static")
    project = wait_status(client, project["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    return project


def assert_serves(server: HostdServer, project: dict, container_id: str,
                  engine: docker.DockerClient) -> None:
    """The project still runs in the very container it had, and answers through its
    install's router."""
    container = engine.containers.get(container_id)
    assert container.status == "running", f"{project['name']}'s container is {container.status}"
    resp = httpx.get(f"http://127.0.0.1:{server.router_port}/", verify=tls(), timeout=10,
                     headers={"Host": urlsplit(project["url"]).netloc})
    assert resp.status_code == 200 and f"the {project['name']} site" in resp.text, resp.text


def test_two_installs_on_one_engine_leave_each_other_alone(engine, base_images, repo,
                                                          tmp_path):
    with own_daemon(engine, tmp_path / "a", own_instance=True) as a, \
            logged_in(a) as alice:
        alpha = deploy_site(alice, repo, "alpha")
        alpha_container = only_container(engine, alpha["id"]).id
        # B starts while A's app runs: its start-up reconcile must leave it.
        with own_daemon(engine, tmp_path / "b", own_instance=True) as b, \
                logged_in(b) as bob:
            b.wait_for_log(RECONCILED, timeout=30)
            assert_serves(a, alpha, alpha_container, engine)
            bravo = deploy_site(bob, repo, "bravo")
            bravo_container = only_container(engine, bravo["id"]).id
            # The other order: B runs, A starts again.
            a.restart()
            a.wait_for_log(RECONCILED, timeout=30, count=2)
            assert_serves(b, bravo, bravo_container, engine)
            assert_serves(a, alpha, alpha_container, engine)
            # Each install labels with an id of its own, kept across its restart.
            assert ID.match(a.instance) and ID.match(b.instance) and a.instance != b.instance
            assert (a.data_dir / "instance-id").read_text().strip() == a.instance
            assert only_container(engine, alpha["id"]).labels["hostd.instance"] == a.instance
            assert only_container(engine, bravo["id"]).labels["hostd.instance"] == b.instance


# --- many installs come and go (`make installs`; not in `make test`: minutes) -----------

INSTALLS = int(os.environ.get("HOSTD_TEST_INSTALLS", "40"))
AT_ONCE = 2  # installs starting, deploying and stopping at one time: one per core
HOSTD_POOL = ip_network("10.213.0.0/16")  # HOSTD_APP_SUBNETS' default


def busybox_site() -> dict[str, str]:
    """The cheapest real deploy with a RUN step (on the build network); the marker keeps
    the engine's build cache out of it."""
    return {"Dockerfile": "FROM hostd/busybox:1\n"
            f"RUN mkdir -p /www && echo {uuid.uuid4().hex} > /www/index.html\n"
            'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]\n'}


def come_and_go(engine: docker.DockerClient, data_dir: Path, url: str) -> HostdServer:
    """An install started, used for one deploy and stopped; what it made on the engine
    stays (its app goes on running), but never a network from the engine's pools."""
    server = HostdServer(data_dir=data_dir, own_instance=True)
    server.start()
    try:
        with logged_in(server) as client:
            project = create(client, "site", url, "static")
            project = wait_status(client, project["id"], {"running", "error"})
            assert project["status"] == "running", project["status_reason"]
    finally:
        server.stop()
    assert_only_own_subnets(engine, server.instance)
    return server


def assert_only_own_subnets(engine: docker.DockerClient, instance: str) -> None:
    """What an install leaves: its user's network, from hostd's pool; no build network."""
    networks = engine.networks.list(filters={"label": f"hostd.instance={instance}"})
    assert [net.name for net in networks if net.name.startswith("hostd-build-")] == []
    for net in networks:
        for config in net.attrs["IPAM"]["Config"]:
            subnet = ip_network(config["Subnet"])
            assert subnet.subnet_of(HOSTD_POOL), f"{net.name} took {subnet}"  # type: ignore[arg-type]


def uninstall(server: HostdServer) -> None:
    done = server.run("uninstall", "--yes", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def labelled(engine: docker.DockerClient, instance: str) -> list[str]:
    label = {"label": f"hostd.instance={instance}"}
    return ([c.name for c in engine.containers.list(all=True, filters=label)]
            + [i.id for i in engine.images.list(filters=label)]
            + [n.name for n in engine.networks.list(filters=label)]
            + [v.name for v in engine.volumes.list(filters=label)])


@pytest.mark.installs
def test_installs_come_and_go_and_the_engine_stays_usable(engine, base_images, repo,
                                                         tmp_path):
    """Forty installs each deploy once and stop; half are uninstalled, half left behind
    (installs do come and go without uninstall). Then a new install deploys, and a plain
    network from the engine's default pools is still made. Before build networks came
    from hostd's pool and went after each build, every install kept a /16 or /20 of the
    engine's ~30: the 31st install's deploy failed, and so did anyone's new network."""
    urls = [repo(busybox_site()) for _ in range(INSTALLS)]
    installs: list[HostdServer] = []
    try:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            installs = list(pool.map(lambda i: come_and_go(engine, tmp_path / f"i{i}",
                                                           urls[i]), range(INSTALLS)))
            gone, left = installs[::2], installs[1::2]
            list(pool.map(uninstall, gone))
        for server in gone:
            assert labelled(engine, server.instance) == [], server.instance
        for server in left:
            assert labelled(engine, server.instance), "left behind: its app and network"
        installs.append(come_and_go(engine, tmp_path / "new", repo(busybox_site())))
        name = f"hostd-test-{uuid.uuid4().hex[:8]}"
        network = engine.networks.create(name, driver="bridge", labels=TEST_LABELS)
        network.remove()
    finally:
        for server in installs:
            remove_instance_objects(engine, server.instance)
