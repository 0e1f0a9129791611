"""DockerRuntime on the real engine: the port's process group (N replicas, each with its
own address), events, inspect/stop/start/remove, one-off runs and their exit codes, and
the error tree at the adapter. The control plane's branches run on FakeRuntime
(tests/control/); this is the proof that the Docker adapter does what the port says."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from hostd.config import Settings
from hostd.control.runtime import (
    ContainerMissing,
    EngineError,
    EngineUnavailable,
    ProcessSpec,
    Runtime,
    RuntimeEvent,
)
from hostd.engine.docker_runtime import DockerRuntime
from hostd.engine.handle import DockerHandle
from tests.support import SESSION_PREFIX, free_port

pytestmark = pytest.mark.docker
SITE = 'CMD ["sh", "-c", "echo up && exec httpd -f -p $PORT -h /www"]\n'


@pytest.fixture
def instance() -> str:
    return f"{SESSION_PREFIX}-rt{uuid.uuid4().hex[:6]}"


@pytest.fixture
def runtime(engine: docker.DockerClient, base_images, instance: str,
            tmp_path: Path) -> Iterator[DockerRuntime]:
    settings = Settings(_env_file=None, HOSTD_DATA_DIR=str(tmp_path / "data"),
                        HOSTD_INSTANCE=instance, HOSTD_EGRESS="open",
                        PORT=free_port())
    made = DockerRuntime(settings, DockerHandle(), data=None)
    yield made
    for replica in made.replicas():
        made.remove(replica.id)
    made.remove_unused_networks(set())
    made.close()


@pytest.fixture
def site_image(engine: docker.DockerClient, instance: str) -> Iterator[str]:
    dockerfile = f"FROM hostd/busybox:1\nRUN mkdir -p /www && echo hi > /www/index.html\n{SITE}"
    tag = f"hostd-test/rt-{uuid.uuid4().hex[:8]}:1"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                        labels={"hostd.instance": instance})
    yield tag
    engine.images.remove(tag, force=True)


def spec(image: str, **fields) -> ProcessSpec:
    values = {"project_id": "p1", "user_id": "u1", "image": image,
              "name": f"hostd-test-rt.{uuid.uuid4().hex[:8]}", "env": {"PORT": "8000"},
              "labels": {"hostd.project": "p1", "hostd.user": "u1"}}
    return ProcessSpec(**(values | fields))


def test_a_process_group_of_two_replicas_serves_on_two_addresses(runtime: DockerRuntime,
                                                                 site_image: str):
    port: Runtime = runtime  # the adapter is the port, as mypy checks it
    events = port.events()
    group = port.run(spec(site_image, replicas=2))
    assert len(group.replicas) == 2
    addresses = set()
    for replica in group.replicas:
        problem, address = port.wait_serving(replica.id, 30)
        assert problem is None and address is not None
        assert address.host == "127.0.0.1"
        addresses.add(address)
        assert replica.process == "web" and replica.project_id == "p1"
        assert "up" in port.logs(replica.id, 10)
    assert len(addresses) == 2
    assert {r.id for r in port.replicas("p1")} == {r.id for r in group.replicas}
    started = [next(events) for _ in range(2)]
    assert all(isinstance(e, RuntimeEvent) and e.action == "start" for e in started)
    assert {e.replica_id for e in started} == {r.id for r in group.replicas}


def test_stop_start_and_remove_one_replica(runtime: DockerRuntime, site_image: str):
    replica = runtime.run(spec(site_image)).first
    runtime.stop(replica.id, timeout_s=2)
    stopped = runtime.inspect(replica.id)
    assert stopped is not None and not stopped.running and stopped.exit_code is not None
    runtime.start(replica.id)
    assert runtime.wait_serving(replica.id, 30)[0] is None
    assert runtime.remove(replica.id) is True
    assert runtime.inspect(replica.id) is None and runtime.remove(replica.id) is False
    with pytest.raises(ContainerMissing):
        runtime.stop(replica.id)


def test_an_app_that_exits_at_start_is_reported_with_its_code(runtime: DockerRuntime):
    replica = runtime.run(spec("hostd/busybox:1", command=None,
                               name=f"hostd-test-rt.{uuid.uuid4().hex[:8]}")).first
    # busybox's own command (sh) exits at once without a terminal
    problem, address = runtime.wait_serving(replica.id, 30)
    assert address is None and problem == "the app exited with code 0 while starting"


def test_a_one_off_run_exits_with_its_code_and_has_no_address(runtime: DockerRuntime,
                                                               site_image: str):
    one = runtime.run_once(spec(site_image, command=["sh", "-c", "echo ran; exit 3"],
                                labels={"hostd.user": "u1", "hostd.run-of": "p1"}))
    assert one.address is None and one.project_id is None
    assert runtime.wait_exit(one.id, 30) == 3
    assert runtime.logs(one.id, 10) == ["ran"]
    assert one.id not in {r.id for r in runtime.replicas("p1")}, "no replica of the project"
    assert one.id in {r.id for r in runtime.replicas()}


def test_the_adapter_speaks_the_ports_error_tree(tmp_path: Path, instance: str):
    away = DockerRuntime(Settings(_env_file=None, HOSTD_DATA_DIR=str(tmp_path / "d"),
                                  HOSTD_INSTANCE=instance, PORT=free_port()),
                         DockerHandle(f"unix://{tmp_path}/no-engine.sock"), data=None)
    assert away.reachable() is False
    with pytest.raises(EngineUnavailable) as raised:
        away.inspect("nothing")
    assert isinstance(raised.value, EngineError)  # one tree: unavailable is an engine error
