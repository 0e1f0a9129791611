"""The real-engine side of the tests, once: the fixtures, the labels, the cleanup.

Registered in tests/conftest.py (``pytest_plugins``). A test that uses ``engine``
(``docker_client`` is the same client) or ``base_images`` is marked ``docker`` here, so
``pytest -m "not docker"`` runs everything else with no engine. Without an engine these
tests skip with a reason, except under CI, where they fail.

What the tests create on the engine is labelled and force-removed at the end, even
after failures:

* daemons (tests/support.py ``HostdServer``) label theirs ``hostd.instance=<SESSION_PREFIX>-…``
  (or, with ``own_instance``, their install's own id, kept in ``SESSION_INSTANCES``);
  the deploy suite's shared daemon is :data:`INSTANCE`, and :func:`own_daemon` removes a
  test's own daemon's objects when it stops. The untagged build stages their deploys
  recorded go too.
* tests calling the engine layer directly label theirs :data:`TEST_LABELS`.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import SESSION_DATA_DIRS, SESSION_INSTANCES, SESSION_PREFIX, HostdServer

if TYPE_CHECKING:
    import docker

    from hostd.engine import BaseImages

ENGINE_FIXTURES = frozenset({"engine", "docker_client", "base_images"})
INSTANCE = f"{SESSION_PREFIX}-deploy"
SESSION = uuid.uuid4().hex
TEST_LABEL_KEY = "hostd.test"
TEST_LABELS = {TEST_LABEL_KEY: SESSION}
# name -> seconds, shown at the end of the run (bootstrap, build and first-answer times).
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)
    # Restarting the machine's engine stops every container on it: those tests go last.
    items.sort(key=lambda item: item.get_closest_marker("engine_restart") is not None)


def engine_or_skip() -> docker.DockerClient:
    """A Docker client; without an engine a skip that says how to get one, and in CI
    (`CI` set) a failure: Docker tests never skip silently there."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but no Docker engine answers ({exc}); "
                        "scripts/ensure-docker should have started one")
        pytest.skip("no Docker engine: run scripts/ensure-docker (root on Debian) first")


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """The session's Docker client."""
    client = engine_or_skip()
    try:
        yield client
    finally:
        remove_instance_objects(client, INSTANCE)
        remove_test_objects(client)
        client.close()


@pytest.fixture(scope="session")
def docker_client(engine: docker.DockerClient) -> docker.DockerClient:
    """The engine layer's tests' name for :func:`engine`."""
    return engine


@pytest.fixture(scope="session")
def base_images(engine: docker.DockerClient) -> BaseImages:
    """The hostd base images, built once with no registry (minutes the first time)."""
    from hostd.engine import bootstrap_base_images, default_build_ca_bundle, resolve_base_images

    started = time.monotonic()
    built = bootstrap_base_images(engine, lambda line: None, default_build_ca_bundle())
    if built:
        TIMINGS["bootstrap (" + ", ".join(built) + ")"] = time.monotonic() - started
    return resolve_base_images(engine)


@contextlib.contextmanager
def own_daemon(engine: docker.DockerClient, data_dir: Path, instance: str | None = None,
               own_instance: bool = False, **env: str) -> Iterator[HostdServer]:
    """A daemon of the test's own (its own HOSTD_INSTANCE, for tests that kill it or
    change its settings; with `own_instance` none, so its install's id labels); afterwards
    stopped, and what it labelled removed."""
    server = HostdServer(data_dir=data_dir, env_overrides=env, own_instance=own_instance)
    if instance is not None:
        server.instance = instance
    server.start()
    try:
        yield server
    finally:
        server.stop()
        remove_instance_objects(engine, server.instance)
        release_data_images(data_dir)


def remove_instance_objects(client: docker.DockerClient, instance: str) -> None:
    """Every container, image, network and volume labelled ``hostd.instance=<instance>``."""
    from docker.errors import NotFound

    label = f"hostd.instance={instance}"
    # Sparse listings, and NotFound tolerated: a container the daemon was retiring as it
    # stopped, or an image another test's cleanup removed, may be gone by the time it is
    # reached (a full listing inspects each one, and fails on the first that is gone).
    for container in client.containers.list(all=True, sparse=True, filters={"label": label}):
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)  # and its anonymous volumes
    for image_id in client.api.images(quiet=True, filters={"label": label}):
        with contextlib.suppress(NotFound):
            client.images.remove(image_id, force=True)
    for network in client.networks.list(filters={"label": label}):
        with contextlib.suppress(NotFound):
            network.remove()
    for volume in client.volumes.list(filters={"label": label}):  # projects' /data
        with contextlib.suppress(NotFound):
            volume.remove(force=True)


def remove_test_objects(client: docker.DockerClient) -> None:
    """What tests of the engine layer made, labelled with :data:`TEST_LABELS`."""
    from hostd.engine import list_labelled_containers, remove_container, remove_image

    for state in list_labelled_containers(client, TEST_LABEL_KEY, SESSION):
        remove_container(client, state.id, force=True)
    for image_id in client.api.images(quiet=True, filters={"label": f"{TEST_LABEL_KEY}={SESSION}"}):
        remove_image(client, image_id, force=True)


def _ours(labels: dict[str, str] | None) -> bool:
    instance = (labels or {}).get("hostd.instance", "")
    return instance.startswith(SESSION_PREFIX) or instance in SESSION_INSTANCES


def remove_session_objects() -> None:
    """Force-remove every container, image and network the session's daemons made, and
    the build stages they recorded (when an engine answers at all)."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception:
        return
    # Summaries, not inspects: another test run on the engine may remove its own
    # containers meanwhile.
    for summary in client.api.containers(all=True, filters={"label": "hostd.instance"}):
        if _ours(summary.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(summary["Id"], force=True, v=True)
    for image in client.api.images(filters={"label": "hostd.instance"}):  # summaries too
        if _ours(image.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound):
                client.images.remove(image["Id"], force=True)
    for network in client.networks.list(filters={"label": "hostd.instance"}):
        if _ours(network.attrs.get("Labels")):
            network.remove()
    for volume in client.volumes.list(filters={"label": "hostd.instance"}):
        if _ours(volume.attrs.get("Labels")):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
    remove_recorded_build_stages(client)
    client.close()
    for data_dir in SESSION_DATA_DIRS:
        release_data_images(data_dir)


def release_data_images(data_dir: Path) -> None:
    """The /data filesystems a daemon mounted (hostd.engine.datavol): unmounted (their
    loop devices go with them) once their volumes are gone."""
    from hostd.engine.datavol import DataImages

    DataImages(data_dir.resolve() / "volumes", 0).release_all()


def remove_recorded_build_stages(client: docker.DockerClient) -> None:
    """The untagged build stages the session's deploys left (see hostd.control.stages)."""
    import docker

    for data_dir in SESSION_DATA_DIRS:
        for record in data_dir.glob("builds/*/stage-images"):
            for image_id in record.read_text().split():
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(image_id, force=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    remove_session_objects()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("engine timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<50} {seconds:7.1f} s")
