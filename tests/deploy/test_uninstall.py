"""After a deploy its build network is gone (one a crash left goes at the next start),
and `hostd uninstall` leaves nothing on the engine labelled with the install: containers,
images (build stages too), networks, volumes. The base images other installs build on
stay."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import docker
import pytest

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in

pytestmark = pytest.mark.docker


def two_stage_site() -> dict[str, str]:
    """A RUN step on the build network, and an earlier stage left as an untagged image
    (recorded in the data dir: hostd.control.stages)."""
    marker = uuid.uuid4().hex  # keeps the engine's build cache out of it
    return {"Dockerfile": "FROM hostd/busybox:1\n"
            f"RUN mkdir -p /www && echo {marker} > /www/index.html\n"
            "FROM hostd/busybox:1\nCOPY --from=0 /www /www\n"
            'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]\n'}


def deploy_one(server: HostdServer, repo, name: str) -> dict:
    with logged_in(server) as client:
        project = create(client, name, repo(two_stage_site()), "static")
        project = wait_status(client, project["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    return project


def labelled(engine: docker.DockerClient, instance: str) -> dict[str, list[str]]:
    label = {"label": f"hostd.instance={instance}"}
    return {"containers": [c.name for c in engine.containers.list(all=True, filters=label)],
            "images": [i.id for i in engine.images.list(filters=label)],
            "networks": [n.name for n in engine.networks.list(filters=label)],
            "volumes": [v.name for v in engine.volumes.list(filters=label)]}


def networks_named(engine: docker.DockerClient, name: str) -> list[str]:
    return [net.name for net in engine.networks.list(names=[name]) if net.name == name]


def stage_images(server: HostdServer) -> list[str]:
    return [image for record in server.data_dir.glob("builds/*/stage-images")
            for image in record.read_text().split()]


def test_the_build_network_is_gone_once_the_deploy_is_over(engine, base_images, repo,
                                                           tmp_path):
    with own_daemon(engine, tmp_path / "data", own_instance=True) as server:
        deploy_one(server, repo, "gone")
        assert networks_named(engine, f"hostd-build-{server.instance}") == []
        # What it left: the user's network, from hostd's own pool.
        (network,) = engine.networks.list(filters={"label": [
            f"hostd.instance={server.instance}", "hostd.network=user"]})
        assert network.attrs["IPAM"]["Config"][0]["Subnet"].startswith("10.213.")


def test_a_build_network_left_by_a_crash_goes_at_the_next_start(engine, base_images, repo,
                                                                tmp_path):
    slow = {"Dockerfile": f"FROM hostd/busybox:1\nRUN echo {uuid.uuid4().hex} && sleep 60\n"}
    with own_daemon(engine, tmp_path / "data", own_instance=True) as server:
        name = f"hostd-build-{server.instance}"
        with logged_in(server) as client:
            create(client, "slow", repo(slow), "static")
            deadline = time.monotonic() + 60
            while not networks_named(engine, name):  # the build is under way
                assert time.monotonic() < deadline, "no build network while the build ran"
                time.sleep(0.1)
        server.kill9()
        assert networks_named(engine, name) == [name], "left behind by the crash"
        server.start()
        server.wait_for_log("following Docker engine events", timeout=30)  # reconciled
        # The crashed build's container holds it until the engine has killed it.
        deadline = time.monotonic() + 30
        while networks_named(engine, name):
            assert time.monotonic() < deadline, "the build network outlived the restart"
            time.sleep(0.2)


def test_uninstall_leaves_nothing_labelled_with_the_install(engine, base_images, repo,
                                                           tmp_path):
    with own_daemon(engine, tmp_path / "data", own_instance=True) as server:
        deploy_one(server, repo, "site")
        refused = server.run("uninstall", "--yes")
        assert refused.returncode == 2 and "is running" in refused.stderr, refused
        before = labelled(engine, server.instance)
        assert all(before.values()), before  # a container, image, network and volume
        stages = stage_images(server)
        assert stages, "the first stage's image is recorded"
        server.stop()

        dry = server.run("uninstall", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert labelled(engine, server.instance) == before
        for name in [*before["containers"], *before["networks"], *before["volumes"]]:
            assert f"{name}" in dry.stdout, dry.stdout
        bases = server.run("uninstall", "--dry-run", "--bases")  # never for real here:
        assert bases.returncode == 0, bases.stderr  # the bases are every test's
        assert "hostd/busybox:1: kept" in bases.stdout, bases.stdout
        asked = subprocess.run([sys.executable, "-m", "hostd", "uninstall"], input="n\n",
                               env=server.env(), cwd=server.data_dir, capture_output=True,
                               text=True, timeout=60, check=False)
        assert asked.returncode == 2 and "nothing removed" in asked.stderr, asked
        assert labelled(engine, server.instance) == before

        data = server.data_dir / "volumes"
        assert list(data.glob("*.img")), "the project's /data filesystem"
        done = server.run("uninstall", "--yes", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not list(data.glob("*.img")) and not any(p.is_mount() for p in data.iterdir())
        assert labelled(engine, server.instance) == {
            "containers": [], "images": [], "networks": [], "volumes": []}
        for image in stages:
            with pytest.raises(docker.errors.ImageNotFound):
                engine.images.get(image)
        engine.images.get("hostd/busybox:1")  # the bases stay
        again = server.run("uninstall", "--yes")
        assert again.returncode == 0 and "removed 0" in again.stdout, again
