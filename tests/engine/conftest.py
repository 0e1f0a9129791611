"""Fixtures for tests against the real Docker engine.

Everything a test creates carries the label ``hostd.test=<session uuid>``; the session
finalizer force-removes every container and image with it, even after failures.
Without an engine these tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.engine import (
    BaseImages,
    EngineClient,
    EngineUnavailable,
    bootstrap_base_images,
    connect,
    list_labelled_containers,
    remove_container,
    remove_image,
    resolve_base_images,
)

SESSION = uuid.uuid4().hex
TEST_LABEL_KEY = "hostd.test"
TEST_LABELS = {TEST_LABEL_KEY: SESSION}
# name -> seconds, shown at the end of the run (build and first-200 times).
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def docker_client() -> Iterator[EngineClient]:
    try:
        client = connect(timeout=120)
    except EngineUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no Docker engine under CI: {exc}")
        pytest.skip("no Docker engine: run scripts/ensure-docker")
    try:
        yield client
    finally:
        _remove_test_objects(client)
        client.close()


def _remove_test_objects(client: EngineClient) -> None:
    label = f"{TEST_LABEL_KEY}={SESSION}"
    for state in list_labelled_containers(client, TEST_LABEL_KEY, SESSION):
        remove_container(client, state.id, force=True)
    for image in client.images.list(filters={"label": label}):
        remove_image(client, image.id, force=True)


@pytest.fixture(scope="session")
def base_images(docker_client: EngineClient) -> BaseImages:
    """The hostd base images, bootstrapped once (minutes the first time, then cached)."""
    started = time.monotonic()
    built = bootstrap_base_images(docker_client, lambda line: None, None)
    if built:
        TIMINGS["bootstrap (" + ", ".join(built) + ")"] = time.monotonic() - started
    return resolve_base_images(docker_client)


@pytest.fixture
def timings() -> dict[str, float]:
    """Record ``name -> seconds``; printed in the terminal summary."""
    return TIMINGS


@pytest.fixture
def labels() -> dict[str, str]:
    """Labels every test object must carry so the session finalizer removes it."""
    return dict(TEST_LABELS)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A container/image name unique to this test and session."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())
    return f"hostd-test-{SESSION[:8]}-{slug}"[:120].rstrip("-")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("engine timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<50} {seconds:7.1f} s")
