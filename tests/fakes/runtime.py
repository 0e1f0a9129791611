"""FakeRuntime: an in-memory engine behind hostd's Runtime port, with faults to inject.

It runs the control plane's branches in the unit tier (no engine): replicas start and
stop with Docker's events, builds add images, and a test makes things go wrong —
`crash`, `exit_on_start`, `slow_start`, `never_serves`, `answers_with`, `vanish`,
`ignores_sigterm`, `go_away`/`come_back`, `fail_next_build`, `refuse_next_build`,
`slow_next_build`, `script_command`, `finish`, `fail_next`. Every Runtime call is kept
in `calls`. Thread-safe: one lock, and one condition every wait (serving, exit, logs,
events) sleeps on, bounded by its timeout.
The real-engine tests stay the proof of DockerRuntime; see tests/fakes/README.md.

Built in layers, each a module: base (lock, calls, outage), images (images, builds),
replicas (run, stop, remove, faults), streams (waits, logs, events, usage), and here
the networks and /data.
"""

from __future__ import annotations

from collections.abc import Set

from hostd.control.runtime import EngineError, Replica
from tests.fakes.streams import FakeStreams


class FakeRuntime(FakeStreams):
    def __init__(self, images: Set[str] = frozenset()) -> None:
        """`images`: tags present from the start (labelled with nothing)."""
        super().__init__()
        for ref in images:
            self.add_image(ref)
        self.mounted: set[str] = set()  # the projects mount_data was asked for

    def adopt(self, replica_id: str, user_id: str) -> Replica | None:
        """A replica found at start: on the fake it follows today's rules already."""
        self._op("adopt", replica_id, user_id)
        with self._lock:
            self._networks.add(user_id)
        return self.inspect(replica_id)

    def close(self) -> None:
        self._op("close")

    # --- networks and data (the Runtime port) ---------------------------------------------
    def remove_user_network(self, user_id: str) -> None:
        """Kept while a running replica of the user's is on it (as the engine refuses)."""
        self._op("remove_user_network", user_id)
        with self._lock:
            if not self._attached(user_id):
                self._networks.discard(user_id)

    def remove_unused_networks(self, user_ids: Set[str]) -> None:
        """Drop the networks of users not in `user_ids` (those with no project left)."""
        self._op("remove_unused_networks", user_ids)
        with self._lock:
            self._networks = {u for u in self._networks if u in user_ids or self._attached(u)}

    def remove_unused_build_network(self) -> bool:
        self._op("remove_unused_build_network")
        return True

    def mount_data(self, project_ids: Set[str]) -> None:
        self._op("mount_data", project_ids)
        with self._lock:
            self.mounted.update(project_ids)

    def remove_data(self, project_id: str) -> None:
        self._op("remove_data", project_id)
        with self._lock:
            holders = [r.id for r in self._replicas.values() if r.spec.project_id == project_id]
            if holders:
                raise EngineError(f"remove volume of project {project_id} failed: remove: "
                                  f"volume is in use - [{', '.join(holders)}]")
            self._data.discard(project_id)
            self.mounted.discard(project_id)

    def data_owners(self) -> set[str]:
        self._op("data_owners")
        with self._lock:
            return set(self._data)

    # --- inspection for tests -------------------------------------------------------------
    def networks(self) -> set[str]:
        """The user ids that have a network now."""
        with self._lock:
            return set(self._networks)

    def _attached(self, user_id: str) -> bool:
        return any(r.running and r.spec.user_id == user_id for r in self._replicas.values())
