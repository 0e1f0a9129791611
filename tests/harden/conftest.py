"""The deploy suite's real-engine fixtures, shared here (imported fixtures register)."""

from tests.deploy.conftest import base_images, engine, repo  # noqa: F401
