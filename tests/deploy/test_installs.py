"""Two installs on one engine, each with its own data dir and no HOSTD_INSTANCE, as two
operators would start them: started in either order, neither touches the other's apps.

Before installs kept an id, both were `default`, and the second one's start-up
reconcile took every container of the first for an orphan and removed it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import docker
import httpx

from tests.deploy.conftest import create, only_container, wait_status
from tests.plugins.engine import own_daemon
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
