"""Connecting to the Docker engine, and the engine layer's errors.

Every call into the docker SDK goes through :func:`translate_errors`, the one place that
turns ``docker.errors.*`` and ``requests`` failures into the engine error tree
(hostd.engine.errors, re-exported here)::

    EngineError                 any engine failure; the message is for humans
    ├── EngineUnavailable       the engine does not answer (the web layer's 503)
    ├── BuildFailed             an image build failed (.log_tail, .oom)
    ├── ImageMissing            a base image is absent (.image, .command makes it)
    └── ContainerMissing        the container does not exist (any more)

Catch EngineError for "the engine failed, whatever the cause"; catch EngineUnavailable
before it where an engine that is away means something else (wait, 503, reconcile later).

This module knows nothing of the web layer: ``hostd.errors`` maps these to HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from hostd.control.runtime import (
    BuildFailed,
    ContainerMissing,
    EngineError,
    EngineUnavailable,
    ImageMissing,
)

__all__ = ["BuildFailed", "ContainerMissing", "EngineError", "EngineUnavailable",
           "ImageMissing", "connect", "ping", "translate_errors"]
ENSURE_DOCKER_HINT = "run scripts/ensure-docker"
# The client type for annotations outside this package, which must not import docker.
EngineClient = docker.DockerClient


@contextmanager
def translate_errors(
    what: str, not_found: Callable[[str], EngineError] | None = None
) -> Iterator[None]:
    """Turn docker SDK failures inside the block into engine-layer errors.

    ``what`` names the operation for the message ("start container web-1"). A 404 from
    the engine becomes ``not_found(message)`` when given (e.g. ContainerMissing), else a
    plain EngineError. Usable as a decorator too.
    """
    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        # Timeout too: an engine that stops answering is unavailable, not "failing".
        raise EngineUnavailable(
            f"Docker engine unreachable during {what}: {exc}; {ENSURE_DOCKER_HINT}"
        ) from exc
    except docker.errors.NotFound as exc:
        message = f"{what}: {_explanation(exc)}"
        raise (not_found or EngineError)(message) from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{what} failed: {_explanation(exc)}") from exc
    except docker.errors.DockerException as exc:
        raise EngineError(f"{what} failed: {exc}") from exc


def _explanation(exc: docker.errors.APIError) -> str:
    # The engine's own sentence ("No such container: x") beats the HTTP wrapper text.
    return str(exc.explanation or exc)


def connect(base_url: str | None = None, timeout: float = 60) -> docker.DockerClient:
    """Connect to the engine (``DOCKER_HOST`` etc. when ``base_url`` is None).

    The API version is negotiated, never pinned: the engine here speaks 1.41 and a
    newer pinned version is refused with HTTP 400. Raises EngineUnavailable.
    """
    try:
        if base_url is None:
            return docker.from_env(timeout=timeout)
        return docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)
    except docker.errors.DockerException as exc:
        # from_env asks the engine for its version, so a dead engine fails right here.
        raise EngineUnavailable(f"Docker engine unreachable: {exc}; {ENSURE_DOCKER_HINT}") from exc


def ping(client: docker.DockerClient) -> bool:
    """True when the engine answers ``/_ping``; never raises."""
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
