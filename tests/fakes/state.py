"""What the fake engine keeps of one replica, and the sentences a real engine's adapter
says about replicas (kept word for word with hostd.engine.health and hostd.engine.client,
which import docker and so are not imported here)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hostd.control.runtime import Address, ContainerMissing, LogLine, ProcessSpec, Replica

FIRST_PORT = 40000  # fake loopback ports count up from here; nothing listens on them
STOPPED = ("exited", "dead")
UNREACHABLE = "the fake engine went away"


def new_replica_id() -> str:
    return f"fake-{secrets.token_hex(6)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def missing(what: str, replica_id: str) -> ContainerMissing:
    """The adapter's 404 sentence: "stop container X: No such container: X"."""
    return ContainerMissing(f"{what} {replica_id}: No such container: {replica_id}")


def silent_reason(timeout_s: float) -> str:
    """As hostd.engine.health.wait_until_serving when nothing answered in time."""
    return (f"the app did not answer HTTP on $PORT (8000) within {timeout_s:.0f}s: "
            "make it listen on 0.0.0.0:$PORT")


def failing_reason(status: int, path: str, timeout_s: float) -> str:
    """As hostd.engine.health.wait_until_serving when the app answered 500 or more."""
    return (f"the app answered {status} on {path} for {timeout_s:.0f}s: "
            "a health check needs an answer below 500")


@dataclass
class FakeReplica:
    """One replica as the fake engine holds it (mutable, under the engine's lock)."""

    id: str
    name: str
    spec: ProcessSpec
    one_off: bool
    address: Address | None
    env: dict[str, str]
    state: str = "created"
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    serves_at: float | None = None  # monotonic seconds; None: never answers below 500
    answers: int | None = None  # the status it answers instead (answers_with), if any
    stop_code: int = 0  # what a stop gives: 137 when it ignores SIGTERM
    log: list[LogLine] = field(default_factory=list)
    cpu_ns: int = 0
    memory_bytes: int = 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def project_id(self) -> str | None:
        """As the engine tells it (the `hostd.project` label): a one-off run carries
        `hostd.run-of` instead, so it is no project's replica."""
        return None if self.one_off else self.spec.project_id

    def snapshot(self) -> Replica:
        return Replica(
            id=self.id, name=self.name, project_id=self.project_id,
            process=self.spec.process, image=self.spec.image, state=self.state,
            running=self.running, exit_code=self.exit_code, oom_killed=self.oom_killed,
            address=self.address, labels=dict(self.spec.labels),
            started_at=self.started_at, finished_at=self.finished_at)
