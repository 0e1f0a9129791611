"""Image builds with the classic builder, bounded in time, CPU, memory, pids and output.

hostd posts the context it made itself (see ``context.py``) to the engine's ``/build``
and reads the output stream. The SDK's ``build()`` can set neither a cgroup parent nor a
CPU quota, and hands back no way to stop a build, so this module makes the request with
the SDK's own plumbing and keeps the response's socket: shutting it down is how a build
is stopped (deadline, output cap, cancel) — the engine then kills and removes the step
container at once (measured: gone within 2 s).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from hostd.control.runtime import BuildStopped
from hostd.engine.client import BuildFailed, translate_errors
from hostd.engine.context import DOCKERFILE_MEMBER, SourceLimits, write_context
from hostd.source.checkout import Checkout

LOG_TAIL_LINES = 30
LINE_CAP = 64 * 1024  # a line without a newline is cut into pieces of this size
OOM_EXIT_CODE = 137
CPU_PERIOD_US = 100_000
_TRUSTED_LIMITS = SourceLimits(max_bytes=2**40, max_files=10**7)


class Cancellable(Protocol):
    """What a build needs of its deploy's cancel scope (hostd.control.cancel)."""

    reason: str | None

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]: ...


@dataclass(frozen=True)
class BuildLimits:
    memory_bytes: int
    cpus: float | None = None
    timeout_s: float | None = None
    log_bytes: int | None = None
    network: str | None = None  # the step containers' network; None: the engine's default
    cgroup_parent: str | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"memory": self.memory_bytes, "memswap": self.memory_bytes}
        if self.cpus is not None:
            params.update(cpuperiod=CPU_PERIOD_US, cpuquota=int(self.cpus * CPU_PERIOD_US))
        if self.network is not None:
            params["networkmode"] = self.network
        if self.cgroup_parent is not None:
            params["cgroupparent"] = self.cgroup_parent
        return params


def build_image(client: docker.DockerClient, context_dir: Path, dockerfile: str | None,
                tag: str, labels: dict[str, str], memory_limit_bytes: int,
                on_log: Callable[[str], None], extra: dict[str, bytes] | None = None) -> str:
    """Build a directory hostd made itself (base images, tests); ``dockerfile`` is the
    text, or None for the directory's own ``Dockerfile``; ``extra`` files are added to
    the context. Returns the image id."""
    checkout = Checkout(context_dir)
    text = dockerfile if dockerfile is not None else checkout.read_text("Dockerfile") or ""
    with tempfile.TemporaryFile(prefix="hostd-context-") as tar:
        write_context(checkout, tar, text, extra or {}, _TRUSTED_LIMITS)
        tar.seek(0)
        return build_context(client, tar, tag, labels, BuildLimits(memory_limit_bytes), on_log)


def build_context(client: docker.DockerClient, context: BinaryIO, tag: str,
                  labels: dict[str, str], limits: BuildLimits,
                  on_log: Callable[[str], None], cancel: Cancellable | None = None) -> str:
    """Build the context tar (its Dockerfile at DOCKERFILE_MEMBER); return the image id.

    Raises BuildFailed (``oom`` when a step was OOM-killed), BuildStopped."""
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)

    def log(line: str) -> None:
        tail.append(line)
        on_log(line)

    stopper = _Stopper(limits, cancel)
    with translate_errors(f"build image {tag}"):
        try:
            response = _post_build(client, context, tag, labels, limits)
            stopper.arm(client.api._get_raw_response_socket(response))
            error = _follow_build(client.api._stream_helper(response, decode=True), log,
                                  stopper)
        except docker.errors.APIError as exc:
            # E.g. a Dockerfile the engine cannot parse: refused before any step.
            error = str(exc.explanation or exc)
            log(error)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                OSError, ValueError):
            if stopper.reason is None:
                raise
            error = None
        finally:
            stopper.disarm()
    if stopper.reason is not None:
        raise BuildStopped(stopper.reason, cancelled=stopper.cancelled)
    if error is not None:
        oom = _looks_oom(error, tail)
        raise BuildFailed(f"build of {tag} failed: {'ran out of memory' if oom else error}",
                          list(tail), oom=oom)
    with translate_errors(f"inspect image {tag}"):
        return str(client.api.inspect_image(tag)["Id"])


def _post_build(client: docker.DockerClient, context: BinaryIO, tag: str,
                labels: dict[str, str], limits: BuildLimits) -> Any:
    params = {"t": tag, "dockerfile": DOCKERFILE_MEMBER, "rm": True, "forcerm": True,
              "pull": False, "labels": json.dumps(labels), **limits.params()}
    api = client.api
    # timeout=None: a quiet step (a long npm install) is not a dead engine; the build's
    # own deadline bounds it instead.
    return api._post(api._url("/build"), data=context, params=params, stream=True,
                     headers={"Content-Type": "application/x-tar"}, timeout=None)


class _Stopper:
    """Stops one build by shutting its socket down: at the deadline, past the output
    cap, or when the deploy is cancelled. `reason` says which, once it happened."""

    def __init__(self, limits: BuildLimits, cancel: Cancellable | None) -> None:
        self.limits = limits
        self.cancel = cancel
        self.reason: str | None = None
        self.cancelled = False
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self._unhook: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self.log_bytes = 0

    def arm(self, raw: Any) -> None:
        # The SDK hands back the socket itself or its SocketIO wrapper.
        self._sock = getattr(raw, "_sock", raw)
        if self.limits.timeout_s is not None:
            self._timer = threading.Timer(self.limits.timeout_s, self.stop, [
                f"the build took longer than {self.limits.timeout_s:.0f}s and was stopped"
                " (HOSTD_BUILD_TIMEOUT)"])
            self._timer.daemon = True
            self._timer.start()
        if self.cancel is not None:
            cancel = self.cancel
            self._unhook = cancel.on_cancel(lambda: self.stop(cancel.reason or "cancelled",
                                                              cancelled=True))

    def count(self, text: str) -> None:
        self.log_bytes += len(text)
        cap = self.limits.log_bytes
        if cap is not None and self.log_bytes > cap:
            self.stop(f"the build printed more than {cap // 2**20} MB of output and was "
                      "stopped (HOSTD_BUILD_LOG_MB)")

    def stop(self, reason: str, cancelled: bool = False) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason, self.cancelled = reason, cancelled
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: the build is over anyway
                sock.shutdown(socket.SHUT_RDWR)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._unhook()


def _follow_build(stream: Iterable[dict[str, Any]], log: Callable[[str], None],
                  stopper: _Stopper) -> str | None:
    """Feed build output to ``log`` line by line; return the error message, if any."""
    pending = io.StringIO()
    for chunk in stream:
        if stopper.reason is not None:
            return None
        if "error" in chunk:
            _flush(pending, log)
            message = str(chunk.get("error", "")).strip()
            log(message)
            return message
        text = str(chunk.get("stream", ""))
        stopper.count(text)
        *lines, rest = text.split("\n")
        if lines:
            pending.write(lines[0])
            _flush(pending, log)
            for line in lines[1:]:
                _emit(line, log)
        pending.write(rest)
        if pending.tell() > LINE_CAP:
            _flush(pending, log)
    _flush(pending, log)
    return None


def _flush(pending: io.StringIO, log: Callable[[str], None]) -> None:
    _emit(pending.getvalue(), log)
    pending.seek(0)
    pending.truncate()


def _emit(line: str, log: Callable[[str], None]) -> None:
    for start in range(0, len(line), LINE_CAP):
        piece = line[start:start + LINE_CAP].rstrip("\r")
        if piece.strip():
            log(piece)


def _looks_oom(error: str, tail: Iterable[str]) -> bool:
    # The classic builder reports "returned a non-zero code: 137" for an OOM-killed step.
    text = " ".join([error, *tail]).lower()
    return f"code: {OOM_EXIT_CODE}" in text or "killed" in text or "out of memory" in text
