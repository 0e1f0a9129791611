"""Fixtures for the engine layer's tests; the engine itself is tests/plugins/engine.py's.

Everything a test creates carries :func:`labels` (``hostd.test=<session uuid>``); the
engine fixture's finalizer force-removes every container and image with it, even after
failures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.engine import SESSION, TEST_LABELS, TIMINGS


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

