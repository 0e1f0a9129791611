"""connect/ping and the error translation, with and without an engine."""

from __future__ import annotations

import pytest

from hostd.engine import (
    ContainerMissing,
    EngineClient,
    EngineError,
    EngineUnavailable,
    ImageMissing,
    connect,
    ping,
    translate_errors,
)


def test_connect_to_missing_socket_is_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="scripts/ensure-docker"):
        connect(base_url="unix:///nonexistent/docker.sock", timeout=2)


def test_ping_answers(docker_client: EngineClient) -> None:
    assert ping(docker_client) is True


def test_engine_404_becomes_the_requested_error(docker_client: EngineClient) -> None:
    with pytest.raises(ContainerMissing, match="No such container"):  # noqa: SIM117
        with translate_errors("inspect container x", not_found=ContainerMissing):
            docker_client.api.inspect_container("hostd-test-no-such-container")


def test_engine_refusal_becomes_engine_error(docker_client: EngineClient) -> None:
    with pytest.raises(EngineError, match="create container failed"):  # noqa: SIM117
        with translate_errors("create container"):
            docker_client.api.create_container("hostd/busybox:1", name="bad/name")


def test_image_missing_names_the_command() -> None:
    err = ImageMissing("hostd/python:3.11", "hostd images bootstrap")
    assert err.command == "hostd images bootstrap"
    assert "`hostd images bootstrap`" in str(err)
    assert isinstance(err, EngineError)
