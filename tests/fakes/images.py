"""The fake engine's images and builds: tags with labels, the untagged stages a build
leaves, and the build faults (fails, refused, slow until cancelled)."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass

from hostd.control.runtime import (
    BuildFailed,
    BuildRefused,
    BuildRequest,
    BuildStopped,
    BuiltImage,
    EngineError,
)
from tests.fakes.base import FakeEngineBase

PROJECT_LABEL = "hostd.project"  # hostd.engine.naming.PROJECT_LABEL
MAX_DELAY_S = 5.0  # every delay the fake takes is short and real
STAGES = 2  # untagged stage images a build leaves


@dataclass(frozen=True)
class _BuildFault:
    kind: str  # fail | refuse | slow
    log_tail: tuple[str, ...] = ()
    oom: bool = False
    message: str = ""
    seconds: float = 0.0


def bounded(seconds: float) -> float:
    if not 0 <= seconds <= MAX_DELAY_S:
        raise ValueError(f"the fake's delays are between 0 and {MAX_DELAY_S}s, not {seconds}")
    return seconds


class FakeImages(FakeEngineBase):
    def __init__(self) -> None:
        super().__init__()
        self._images: dict[str, dict[str, str]] = {}  # tag or full id -> labels
        self._untagged: set[str] = set()  # full ids ("sha256:…") of build stages
        self._build_faults: list[_BuildFault] = []

    # --- for tests ------------------------------------------------------------------------
    def add_image(self, ref: str, labels: Mapping[str, str] | None = None) -> None:
        """An image as if built or loaded (a base image, a project's release)."""
        with self._lock:
            self._images[ref] = dict(labels or {})

    def fail_next_build(self, log_tail: Sequence[str] = ("npm ERR! missing script: build",),
                        oom: bool = False) -> None:
        """The next build logs `log_tail` and raises BuildFailed (`oom`: killed for memory)."""
        self._queue_build(_BuildFault("fail", log_tail=tuple(log_tail), oom=oom))

    def refuse_next_build(self, message: str) -> None:
        """The next build raises BuildRefused(message) before any step."""
        self._queue_build(_BuildFault("refuse", message=message))

    def slow_next_build(self, seconds: float) -> None:
        """The next build takes `seconds` (≤ 5) unless its cancel hook stops it first:
        then it raises BuildStopped(cancelled=True)."""
        self._queue_build(_BuildFault("slow", seconds=bounded(seconds)))

    def _queue_build(self, fault: _BuildFault) -> None:
        with self._lock:
            self._build_faults.append(fault)

    # --- the Runtime port -----------------------------------------------------------------
    def build(self, request: BuildRequest, stages: Callable[[list[str]], None]) -> BuiltImage:
        self._op("build", request)
        with self._lock:
            fault = self._build_faults.pop(0) if self._build_faults else None
        if fault is not None and fault.kind == "refuse":
            raise BuildRefused(fault.message)
        # Callbacks run outside the lock: they may call back into the fake.
        for line in (f"Step 1/{STAGES + 1} : FROM hostd/{request.template}",
                     f"Step 2/{STAGES + 1} : COPY . /app",
                     f"Step 3/{STAGES + 1} : LABEL hostd.deployment={request.deployment_id}"):
            request.on_log(line)
        stages(self._leave_stages())
        if fault is not None and fault.kind == "slow":
            self._build_slowly(request, fault.seconds)
        if fault is not None and fault.kind == "fail":
            tail = list(fault.log_tail)
            for line in tail:
                request.on_log(line)
            error = tail[-1] if tail else "The command returned a non-zero code: 1"
            raise BuildFailed(f"build of {request.tag} failed: "
                              f"{'ran out of memory' if fault.oom else error}", tail, oom=fault.oom)
        self.add_image(request.tag, request.labels)
        return BuiltImage(request.tag, uses_repo_dockerfile=_regular_file(request, "Dockerfile"))

    def _leave_stages(self) -> list[str]:
        ids = [secrets.token_hex(32) for _ in range(STAGES)]
        with self._lock:
            self._untagged.update(f"sha256:{i}" for i in ids)
        return [i[:12] for i in ids]  # short ids, as the classic builder prints them

    def _build_slowly(self, request: BuildRequest, seconds: float) -> None:
        cancelled = threading.Event()
        scope = request.cancel
        unhook = scope.on_cancel(cancelled.set) if scope is not None else (lambda: None)
        try:
            if cancelled.wait(seconds):
                assert scope is not None
                raise BuildStopped(scope.reason or "the deploy was cancelled", cancelled=True)
        finally:
            unhook()

    def image_exists(self, ref: str) -> bool:
        self._op("image_exists", ref)
        with self._lock:
            return ref in self._images or ref in self._untagged

    def image_labels(self, ref: str) -> dict[str, str]:
        self._op("image_labels", ref)
        with self._lock:
            return dict(self._images.get(ref, {}))

    def remove_image(self, ref: str, force: bool = False) -> bool:
        self._op("remove_image", ref, force)
        with self._lock:
            if ref in self._untagged:
                self._untagged.discard(ref)
                return True
            if ref not in self._images:
                return False
            users = self._image_users(ref)
            if users and not force:
                raise EngineError(
                    f"remove image {ref} failed: conflict: unable to remove repository "
                    f"reference \"{ref}\" (must force) - container {users[0]} is using its "
                    "referenced image")
            del self._images[ref]
            return True

    def _image_users(self, ref: str) -> list[str]:
        """The replicas made from `ref`, running or not (the replicas' module knows)."""
        return []

    def project_images(self, project_id: str) -> list[str]:
        self._op("project_images", project_id)
        with self._lock:
            return [ref for ref, labels in self._images.items()
                    if labels.get(PROJECT_LABEL) == project_id]

    def instance_images(self) -> dict[str, list[str]]:
        self._op("instance_images")
        found: dict[str, list[str]] = {}
        with self._lock:
            for ref, labels in self._images.items():
                if labels.get(PROJECT_LABEL):
                    found.setdefault(labels[PROJECT_LABEL], []).append(ref)
        return found

    def untagged_among(self, image_ids: Set[str]) -> list[str]:
        self._op("untagged_among", image_ids)
        with self._lock:
            return sorted(i for i in self._untagged if i.removeprefix("sha256:")[:12] in image_ids)


def _regular_file(request: BuildRequest, name: str) -> bool:
    """A regular file at the checkout's top, read without following a link (lstat)."""
    try:
        return stat.S_ISREG(os.lstat(request.checkout / name).st_mode)
    except OSError:
        return False
