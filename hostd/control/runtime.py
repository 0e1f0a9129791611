"""The Runtime port: everything the control plane asks of an engine, in hostd's own terms.

The control plane owns this protocol; adapters implement it beneath (the Docker engine in
hostd.engine.docker_runtime, an in-memory engine for tests in tests/fakes/runtime.py). No
engine SDK object crosses it: only the dataclasses below, strings and numbers, and the
errors of the one engine error tree, defined here (adapters translate their SDK's
failures into it at one place each: hostd.engine.client for Docker):

    EngineError              an operation failed; the message is for humans
    ├── EngineUnavailable    the engine does not answer
    ├── BuildFailed          a build failed (.log_tail, .oom)
    ├── BuildStopped         a build was stopped (time, output, or a cancel)
    ├── ImageMissing         a base image is absent (.command makes it)
    └── ContainerMissing     the replica does not exist (any more)

The unit is a *process group*: one process type of one release, run as N replicas (N is
1 today, and a replica is one container). Each replica reports the address the router
should use: a loopback port here, a node's address and port on a cluster.

Catch EngineError for "the engine failed, whatever the cause"; catch EngineUnavailable
before it where an engine that is away means something else (wait, 503, reconcile later).
Every method blocks; callers run it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

__all__ = ["WEB", "Address", "BuildFailed", "BuildRefused", "BuildRequest", "BuildStopped",
           "BuiltImage", "CancelScope", "ContainerMissing", "EngineError", "EngineUnavailable",
           "ImageMissing", "LogFollower", "LogLine", "ProcessGroup", "ProcessSpec", "Replica",
           "Runtime", "RuntimeEvent", "Usage"]
# --- the engine error tree ----------------------------------------------------------------


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


# --- what crosses the port ----------------------------------------------------------------

WEB = "web"  # the process type that serves HTTP (the only one today)


@dataclass(frozen=True)
class Address:
    """Where the router reaches a replica."""

    host: str
    port: int

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"


@dataclass(frozen=True)
class Replica:
    """One running (or stopped) copy of a process, as the engine sees it now."""

    id: str
    name: str
    project_id: str | None  # None: not a project's (a build step, say)
    process: str
    image: str
    state: str  # created | running | restarting | paused | exited | dead
    running: bool
    exit_code: int | None
    oom_killed: bool
    address: Address | None  # None until it runs (and for one-off runs)
    labels: Mapping[str, str]  # hostd's own metadata (instance, user, env fingerprint, run of)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def host_port(self) -> int | None:
        """The loopback port, the one form of address the single-machine router takes."""
        return self.address.port if self.address is not None else None


@dataclass(frozen=True)
class ProcessSpec:
    """One process type of one release: what each of its replicas runs.

    `labels` is hostd's metadata (instance, project, user, deployment, env fingerprint);
    the runtime stores it on each replica and gives it back in `Replica.labels`."""

    project_id: str
    user_id: str
    image: str
    name: str  # a name for people (engine object names are made from it)
    env: Mapping[str, str]
    labels: Mapping[str, str]
    process: str = WEB
    command: list[str] | None = None  # None: the image's own (the web process today)
    replicas: int = 1


@dataclass(frozen=True)
class ProcessGroup:
    """The replicas of one process spec, just started."""

    spec: ProcessSpec
    replicas: tuple[Replica, ...]

    @property
    def first(self) -> Replica:
        return self.replicas[0]


@dataclass(frozen=True)
class RuntimeEvent:
    """A replica started, was signalled, died or ran out of memory."""

    action: str  # start | kill | die | oom | stop
    replica_id: str
    project_id: str | None
    exit_code: int | None = None


@dataclass(frozen=True)
class Usage:
    """One instant of one replica: cumulative CPU ns (two make a rate), memory bytes, and
    when (monotonic ns)."""

    cpu_ns: int
    memory_bytes: int
    at_ns: int


class CancelScope(Protocol):
    """What a long operation needs of its deploy's cancel scope (hostd.control.cancel)."""

    reason: str | None

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` at a cancel (at once if it happened); returns its removal."""


@dataclass(frozen=True)
class BuildRequest:
    """One deploy's build: the checkout becomes the image `tag`.

    The runtime chooses the Dockerfile (the repository's own, checked against the allowed
    bases, or the template's), writes the context beside the checkout in `workdir`, and
    builds it bounded in time, memory, pids and output."""

    deployment_id: str
    project_id: str
    checkout: Path  # a hostile tree: read without following a link out
    workdir: Path  # the deploy's own directory, for the context file
    template: str
    tag: str
    labels: Mapping[str, str]
    on_log: Callable[[str], None]
    cancel: CancelScope | None = None  # the deploy's: a cancel stops the build




@dataclass(frozen=True)
class BuiltImage:
    tag: str
    uses_repo_dockerfile: bool


@dataclass(frozen=True)
class LogLine:
    """One line of a replica's log and when the engine took it in (ns since the epoch,
    UTC; None when the engine gave no valid time), so replicas' lines can be merged."""

    text: str
    at_ns: int | None


class LogFollower(Protocol):
    """A replica's log, followed; `close` (from any thread) ends `lines`."""

    def lines(self) -> Iterator[LogLine]: ...
    def close(self) -> None: ...


class Runtime(Protocol):
    """The operations the control plane needs of an engine."""

    # --- the engine itself ---------------------------------------------------------------
    def reachable(self) -> bool:
        """True when the engine answers now (never raises)."""
    def reset(self) -> None:
        """Forget the connection, so the next call connects again (after an outage)."""
    def close(self) -> None:
        """Let go of connections and threads (the daemon stops)."""

    # --- process groups --------------------------------------------------------------------
    def run(self, spec: ProcessSpec) -> ProcessGroup:
        """Start `spec.replicas` replicas of a process (restart policy: none; hostd's
        supervisor restarts them). Raises ImageMissing, EngineError."""
    def inspect(self, replica_id: str) -> Replica | None:
        """The replica now; None when it is gone."""
    def start(self, replica_id: str) -> None:
        """Start a stopped replica again. Raises ContainerMissing."""
    def stop(self, replica_id: str, timeout_s: int = 10) -> None:
        """Stop it (SIGTERM, then SIGKILL after `timeout_s`). Raises ContainerMissing."""
    def remove(self, replica_id: str) -> bool:
        """Remove it, running or not; False when it was gone already."""
    def replicas(self, project_id: str | None = None) -> list[Replica]:
        """This instance's replicas (one project's, or all), one-off runs included."""
    def adopt(self, replica_id: str, user_id: str) -> Replica | None:
        """A replica found running at start, made to follow today's rules (the engine
        never restarts it; on its owner's network only); None when it is gone."""
    def wait_serving(self, replica_id: str, timeout_s: float,
                     path: str = "/") -> tuple[str | None, Address | None]:
        """(None, address) once it answers HTTP below 500 on `path`, else (why not, None)."""
    def logs(self, replica_id: str, tail: int) -> list[str]:
        """Its last `tail` log lines, at most a bounded size in all (the newest kept).
        Raises ContainerMissing."""
    def timed_logs(self, replica_id: str, tail: int) -> list[LogLine]:
        """As `logs`, each line with its time. Raises ContainerMissing."""
    def follow_logs(self, replica_id: str, tail: int,
                    since_ns: int | None = None) -> LogFollower:
        """Its log from `tail` lines back (of those written at `since_ns` or later, when
        given), followed until it stops or `close`. Raises ContainerMissing."""
    def events(self) -> Iterator[RuntimeEvent]:
        """This instance's replica events from now on; blocks; ends (or raises
        EngineUnavailable) when the engine goes away."""
    def usage(self, replica_ids: Set[str], deadline_s: float) -> dict[str, Usage]:
        """A reading of each replica that has one within `deadline_s`."""

    # --- one-off runs ----------------------------------------------------------------------
    def run_once(self, spec: ProcessSpec) -> Replica:
        """Start `spec.command` once in a fresh replica of the image, with no address."""
    def wait_exit(self, replica_id: str, timeout_s: float) -> int | None:
        """Its exit code; None when it still runs after `timeout_s`."""

    # --- images ----------------------------------------------------------------------------
    def build(self, request: BuildRequest, stages: Callable[[list[str]], None]) -> BuiltImage:
        """Build `request.tag`; its log lines go to `on_log`, and the untagged images
        its steps left to `stages` (even when it fails). Raises BuildRefused, BuildFailed,
        BuildStopped (.cancelled), ImageMissing."""
    def image_exists(self, ref: str) -> bool: ...
    def image_labels(self, ref: str) -> dict[str, str]: ...
    def remove_image(self, ref: str, force: bool = False) -> bool:
        """Remove it; False when it was gone. Raises EngineError when it is in use."""
    def project_images(self, project_id: str) -> list[str]:
        """The images built for the project by this instance."""
    def instance_images(self) -> dict[str, list[str]]:
        """Every project's images of this instance, by project id."""
    def untagged_among(self, image_ids: Set[str]) -> list[str]:
        """Those of `image_ids` that are still there and untagged (a build's stages)."""

    # --- what apps keep: networks and data -------------------------------------------------
    def remove_user_network(self, user_id: str) -> None: ...
    def remove_unused_networks(self, user_ids: Set[str]) -> None:
        """The networks of users who have no project any more."""
    def remove_unused_build_network(self) -> bool:
        """The build network when no build holds it; True when none is left."""
    def mount_data(self, project_ids: Set[str]) -> None:
        """Make the projects' /data filesystems ready (after a reboot)."""
    def remove_data(self, project_id: str) -> None:
        """The project's /data. Raises EngineError while a replica still holds it."""
    def data_owners(self) -> set[str]:
        """The projects of this instance that have /data on the engine."""
