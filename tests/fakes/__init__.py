"""Fakes of hostd's ports for the unit tier: FakeRuntime (tests/fakes/README.md)."""

from tests.fakes.runtime import FakeRuntime

__all__ = ["FakeRuntime"]
