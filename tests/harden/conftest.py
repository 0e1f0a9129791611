"""The deploy suite's repository factory, shared here (an imported fixture registers);
the engine fixtures are tests/plugins/engine.py's."""

from tests.deploy.conftest import repo  # noqa: F401
