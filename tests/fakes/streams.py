"""What the fake engine lets a caller wait on or follow: a replica serving or exiting,
its log, the event stream; and usage readings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Set

from hostd.control.runtime import Address, EngineUnavailable, LogLine, RuntimeEvent, Usage
from hostd.engine.health import exit_reason  # the adapter's own sentences
from tests.fakes.replicas import FakeReplicas
from tests.fakes.state import (
    STOPPED,
    UNREACHABLE,
    failing_reason,
    missing,
    silent_reason,
)


class FakeLogFollower:
    """A replica's log followed: the lines from `start` on, then new ones as they are
    written, until the replica stops or is gone, the engine goes away, or `close`."""

    def __init__(self, engine: FakeStreams, replica_id: str, start: int) -> None:
        self._engine = engine
        self._replica_id = replica_id
        self._position = start
        self._closed = threading.Event()

    def lines(self) -> Iterator[LogLine]:
        while True:
            batch = self._engine._log_after(self._replica_id, self._position, self._closed)
            if batch is None:
                return
            self._position += len(batch)
            yield from batch  # outside the engine's lock

    def close(self) -> None:
        self._closed.set()
        self._engine._wake()


class FakeStreams(FakeReplicas):
    def wait_serving(self, replica_id: str, timeout_s: float,
                     path: str = "/") -> tuple[str | None, Address | None]:
        """As the Docker adapter: (None, address) once it serves; else why not: it
        exited, it disappeared, or nothing answered below 500 within `timeout_s`."""
        self._op("wait_serving", replica_id, timeout_s, path)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                self._answering(f"inspect container {replica_id}")
                rec = self._replicas.get(replica_id)
                if rec is None:
                    return "the container disappeared while starting", None
                if rec.state in (*STOPPED, "restarting"):
                    return exit_reason(rec.exit_code, rec.oom_killed) + " while starting", None
                now = time.monotonic()
                if rec.running and rec.serves_at is not None and now >= rec.serves_at:
                    return None, rec.address
                if now >= deadline:
                    if rec.answers is not None:
                        return failing_reason(rec.answers, path, timeout_s), None
                    return silent_reason(timeout_s), None
                wake = deadline if rec.serves_at is None else min(deadline, rec.serves_at)
                self._changed.wait(wake - now)

    def wait_exit(self, replica_id: str, timeout_s: float) -> int | None:
        """As the Docker adapter: None also when the engine goes away during the wait
        (its long-poll's connection drops, which it cannot tell from its read timeout)."""
        self._op("wait_exit", replica_id, timeout_s)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if self._away:
                    return None
                rec = self._replicas.get(replica_id)
                if rec is None:
                    raise missing("wait for container", replica_id)
                if rec.state in STOPPED:
                    return rec.exit_code
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def logs(self, replica_id: str, tail: int) -> list[str]:
        self._op("logs", replica_id, tail)
        with self._lock:
            log = self._get("logs of container", replica_id).log
            return [line.text for line in (log[-tail:] if tail > 0 else [])]

    def timed_logs(self, replica_id: str, tail: int) -> list[LogLine]:
        self._op("timed_logs", replica_id, tail)
        with self._lock:
            log = self._get("logs of container", replica_id).log
            return list(log[-tail:] if tail > 0 else [])

    def follow_logs(self, replica_id: str, tail: int,
                    since_ns: int | None = None) -> FakeLogFollower:
        """As the engine: the last `tail` lines (of those written at `since_ns` or later)."""
        self._op("follow_logs", replica_id, tail, since_ns)
        with self._lock:
            log = self._get("logs of container", replica_id).log
            start = max(0, len(log) - max(0, tail))
            while since_ns is not None and start < len(log) and (
                    (log[start].at_ns or 0) < since_ns):
                start += 1
            return FakeLogFollower(self, replica_id, start)

    def events(self) -> Iterator[RuntimeEvent]:
        """The events from this call on; blocks; raises EngineUnavailable once the engine
        goes away (after the events it had sent)."""
        self._op("events")
        with self._lock:
            return self._event_stream(len(self._events), self._outages)

    def _event_stream(self, position: int, outage: int) -> Iterator[RuntimeEvent]:
        while True:
            with self._changed:
                while position == len(self._events) and self._outages == outage:
                    self._changed.wait()
                batch = self._events[position:]
                position += len(batch)
                gone = self._outages != outage
            yield from batch
            if gone:
                raise EngineUnavailable(f"the engine's event stream ended: {UNREACHABLE}")

    def usage(self, replica_ids: Set[str], deadline_s: float) -> dict[str, Usage]:
        """A reading of each running replica among `replica_ids` (set_usage's counters)."""
        self._op("usage", replica_ids, deadline_s)
        with self._lock:
            return {rec.id: Usage(rec.cpu_ns, rec.memory_bytes, time.monotonic_ns())
                    for rec in self._replicas.values() if rec.id in replica_ids and rec.running}

    # --- inside ---------------------------------------------------------------------------
    def _log_after(self, replica_id: str, position: int,
                   closed: threading.Event) -> list[LogLine] | None:
        """The lines after `position` once there are some; None when following ends."""
        with self._changed:
            while True:
                rec = self._replicas.get(replica_id)
                if closed.is_set() or rec is None or self._away:
                    return None
                if position < len(rec.log):
                    return rec.log[position:]
                if not rec.running:
                    return None
                self._changed.wait()

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()
