"""Tenants can't reach each other at run time: each user's apps are on a bridge of their
own. A probe in one of Alice's containers tries one TCP connect (2 s) to her other app
(it must succeed, so the test can fail) and to Bob's (it must not); it can't reach a
listener on its bridge's gateway (the host) or the metadata range either. These are the
only places tests address bridge addresses, and only of containers (and a listener) the
test itself started. The reconciler moves a container made before networks per user
onto its owner's network, and it keeps serving."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import httpx

from hostd.engine.egress import RULES
from tests.deploy.conftest import create, wait_status
from tests.harden.test_engine_restart import through_router
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, logged_in, register, tls

APP = {
    "Dockerfile": "FROM hostd/busybox:1\nUSER 65534:65534\n"
                  'CMD ["sh", "-c", "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && '
                  'exec httpd -f -p $PORT -h /tmp/www"]\n',
}


def app_container(engine: docker.DockerClient, project_id: str):
    (container,) = engine.containers.list(filters={"label": f"hostd.project={project_id}"})
    return container


def address(container) -> tuple[str, str, str]:
    """(network, the container's address on it, its gateway): it is on exactly one."""
    container.reload()
    ((network, settings),) = container.attrs["NetworkSettings"]["Networks"].items()
    return network, settings["IPAddress"], settings["Gateway"]


def networks_of(container) -> list[str]:
    container.reload()
    return sorted(container.attrs["NetworkSettings"]["Networks"])


def reaches(probe, host: str, port: int) -> bool:
    """One bounded TCP connect from inside `probe` (busybox nc, 2 s)."""
    code, _ = probe.exec_run(["timeout", "3", "nc", "-w", "2", host, str(port)],
                             stdin=False)
    return code == 0


@contextmanager
def listener(host: str) -> Iterator[int]:
    """An HTTP server on `host` (the bridge gateway: an address of this machine)."""
    server = http.server.ThreadingHTTPServer((host, 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def running_app(api: httpx.Client, name: str, url: str) -> dict:
    project = wait_status(api, create(api, name, url, "static")["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    return project


def test_one_users_app_cannot_reach_another_users_app_or_the_host(
        deploy_hostd: HostdServer, engine: docker.DockerClient, repo) -> None:
    url = repo(APP)
    with logged_in(deploy_hostd) as alice, logged_in(deploy_hostd) as bob:
        mine = running_app(alice, "net-mine", url)
        sibling = running_app(alice, "net-sibling", url)
        theirs = running_app(bob, "net-theirs", url)
        probe = app_container(engine, mine["id"])
        my_net, _, gateway = address(probe)
        sibling_net, sibling_ip, _ = address(app_container(engine, sibling["id"]))
        their_net, their_ip, _ = address(app_container(engine, theirs["id"]))
        assert my_net == sibling_net != their_net and "bridge" not in (my_net, their_net)

        assert reaches(probe, sibling_ip, 8000), "the probe can't reach its own network"
        assert not reaches(probe, their_ip, 8000), "an app reached another user's app"
        with listener(gateway) as port:
            with httpx.Client(timeout=5) as client:  # it answers: only the app is kept out
                assert client.get(f"http://{gateway}:{port}/").status_code in (200, 404)
            assert not reaches(probe, gateway, port), "an app reached the host"
        assert not reaches(probe, "169.254.169.254", 80)
        for chain, rule in RULES:
            check = subprocess.run(["iptables", "-w", "5", "-C", chain, *rule],
                                   capture_output=True, check=False)
            assert check.returncode == 0, (chain, rule, check.stderr)

        for client, project in ((alice, mine), (alice, sibling), (bob, theirs)):
            assert client.delete(f"/api/projects/{project['id']}").status_code == 200
        left = {net.name for net in engine.networks.list(names=[my_net, their_net])}
        assert not left & {my_net, their_net}, "a user's network outlived their projects"


def test_the_reconciler_moves_an_app_onto_its_owners_network(
        engine: docker.DockerClient, base_images: None, repo, tmp_path: Path) -> None:
    with own_daemon(engine, tmp_path / "data") as server, \
            httpx.Client(base_url=server.url, timeout=60, verify=tls()) as api:
        token, _ = register(api)
        api.headers.update(auth(token))
        project = running_app(api, "moved", repo(APP))
        container = app_container(engine, project["id"])
        own_net, _, _ = address(container)
        # As hostd made apps before networks per user: on the engine's default bridge.
        engine.networks.get("bridge").connect(container)
        engine.networks.get(own_net).disconnect(container)
        server.stop()
        server.start()
        deadline = time.monotonic() + 30
        while networks_of(container) != [own_net] or not _answers(server, project):
            # A 502 while the app moves (its port published again) is not yet the end.
            assert time.monotonic() < deadline, container.attrs["NetworkSettings"]["Networks"]
            time.sleep(0.3)
        assert app_container(engine, project["id"]).id == container.id


def _answers(server: HostdServer, project: dict) -> bool:
    answer = through_router(server, project)
    return answer is not None and answer.status_code == 200 and answer.text == "hi\n"
