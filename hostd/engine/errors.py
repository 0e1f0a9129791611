"""The one engine error tree; no docker here, so the control plane catches these through
the Runtime port (hostd.control.runtime) without knowing the engine::

    EngineError                 any engine failure; the message is for humans
    ├── EngineUnavailable       the engine does not answer (the web layer's 503)
    ├── BuildFailed             an image build failed (.log_tail, .oom)
    ├── BuildStopped            a build stopped for time, output or a cancel (.cancelled)
    ├── BuildRefused            the source can't be built as it is (the message says why)
    ├── ImageMissing            a base image is absent (.image, .command makes it)
    └── ContainerMissing        the container does not exist (any more)

Catch EngineError for "the engine failed, whatever the cause"; catch EngineUnavailable
before it where an engine that is away means something else (wait, 503, reconcile later).
Adapters translate their SDK's failures into these at one place (hostd.engine.client).
"""

from __future__ import annotations


class EngineError(Exception):
    """An engine operation failed; ``str(err)`` is human-readable."""


class EngineUnavailable(EngineError):
    """The Docker engine cannot be reached (not running, socket missing, timed out)."""


class BuildFailed(EngineError):
    """An image build failed.

    ``log_tail`` holds the last build output lines; ``oom`` is True when a build step
    was killed for running out of memory (exit 137).
    """

    def __init__(self, message: str, log_tail: list[str], oom: bool = False) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.oom = oom


class ImageMissing(EngineError):
    """A needed image is not in the local engine; ``command`` is what creates it."""

    def __init__(self, image: str, command: str) -> None:
        super().__init__(f"image {image} is missing: run `{command}`")
        self.image = image
        self.command = command


class ContainerMissing(EngineError):
    """The container does not exist (never created, or removed behind our back)."""


class BuildStopped(EngineError):
    """hostd stopped the build: its deadline passed, its output passed the cap, or it
    was cancelled (``cancelled``). The message is the deploy's reason."""

    def __init__(self, message: str, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


class BuildRefused(EngineError):
    """The source can't be built as it is: a link out of the checkout, too large, a
    Dockerfile on a base it may not use, a Node.js line hostd has no image of."""
