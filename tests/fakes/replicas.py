"""The fake engine's replicas: started, stopped and removed as the Docker engine does it
(its events in Docker's order), and the faults a test injects into them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from hostd.control.runtime import (
    WEB,
    Address,
    EngineError,
    ImageMissing,
    LogLine,
    ProcessGroup,
    ProcessSpec,
    Replica,
    RuntimeEvent,
)
from tests.fakes.images import FakeImages, bounded
from tests.fakes.state import FIRST_PORT, FakeReplica, missing, new_replica_id, utcnow

KILLED = 137  # SIGKILL: a stop past its timeout, a forced removal


@dataclass(frozen=True)
class _StartRule:
    """A fault for replicas started from now on; `target` is an image or a project id
    (None: every replica)."""

    kind: str  # exit | slow | never | status
    target: str | None
    value: float = 0.0

    def applies(self, spec: ProcessSpec) -> bool:
        return self.target is None or self.target in (spec.image, spec.project_id)


@dataclass(frozen=True)
class _Script:
    prefix: tuple[str, ...]
    exit_code: int
    output: tuple[str, ...]


class FakeReplicas(FakeImages):
    def __init__(self) -> None:
        super().__init__()
        self._replicas: dict[str, FakeReplica] = {}
        self._events: list[RuntimeEvent] = []  # everything emitted, in order
        self._rules: list[_StartRule] = []
        self._scripts: list[_Script] = []
        self._next_port = FIRST_PORT
        self._networks: set[str] = set()  # user ids with a network
        self._data: set[str] = set()  # project ids with /data
        self._last_stamp = 0  # the log clock: the wall clock's ns, strictly increasing

    # --- the Runtime port -----------------------------------------------------------------
    def run(self, spec: ProcessSpec) -> ProcessGroup:
        self._op("run", spec)
        if spec.replicas < 1:
            raise EngineError(f"run {spec.name}: a process group needs a replica at least")
        names = [spec.name] if spec.replicas == 1 else [
            f"{spec.name}.{n}" for n in range(1, spec.replicas + 1)]
        with self._lock:
            self._creatable(spec, names)
            made = [self._create(spec, name, one_off=False) for name in names]
            started = tuple(self._begin(rec) for rec in made)
            for rec in made:
                self._exit_on_start(rec)
            return ProcessGroup(spec, started)

    def run_once(self, spec: ProcessSpec) -> Replica:
        self._op("run_once", spec)
        if not spec.command:
            raise EngineError(f"run {spec.name}: a one-off run needs a command")
        with self._lock:
            self._creatable(spec, [spec.name])
            rec = self._create(spec, spec.name, one_off=True)
            started = self._begin(rec)
            script = self._script_for(spec.command)
            if script is not None:
                rec.log.extend(LogLine(line, self._stamp()) for line in script.output)
                self._exit(rec, script.exit_code)
            return started

    def inspect(self, replica_id: str) -> Replica | None:
        self._op("inspect", replica_id)
        with self._lock:
            rec = self._replicas.get(replica_id)
            return rec.snapshot() if rec is not None else None

    def start(self, replica_id: str) -> None:
        self._op("start", replica_id)
        with self._lock:
            rec = self._get("start container", replica_id)
            if not rec.running:
                self._begin(rec)
                self._exit_on_start(rec)

    def stop(self, replica_id: str, timeout_s: int = 10) -> None:
        """As `docker stop`: kill (SIGTERM), a second kill (SIGKILL) when the app ignores
        SIGTERM, die, stop; nothing for a replica already stopped."""
        self._op("stop", replica_id, timeout_s)
        with self._lock:
            rec = self._get("stop container", replica_id)
            if not rec.running:
                return
            self._emit("kill", rec)
            if rec.stop_code == KILLED:
                self._emit("kill", rec)
            self._exit(rec, rec.stop_code)
            self._emit("stop", rec)

    def remove(self, replica_id: str) -> bool:
        """As `docker rm -f`: a running replica is killed first (kill, die 137)."""
        self._op("remove", replica_id)
        with self._lock:
            rec = self._replicas.get(replica_id)
            if rec is None:
                return False
            if rec.running:
                self._emit("kill", rec)
                self._exit(rec, KILLED)
            del self._replicas[replica_id]
            self._changed.notify_all()
            return True

    def replicas(self, project_id: str | None = None) -> list[Replica]:
        self._op("replicas", project_id)
        with self._lock:
            return [rec.snapshot() for rec in self._replicas.values()
                    if project_id is None or rec.project_id == project_id]

    # --- faults ---------------------------------------------------------------------------
    def crash(self, replica_id: str, exit_code: int = 1, oom: bool = False) -> None:
        """It exits by itself: an "oom" event first when `oom`, then "die"."""
        with self._lock:
            rec = self._get("crash container", replica_id)
            if not rec.running:
                raise ValueError(f"{replica_id} is not running: it cannot crash")
            self._exit(rec, exit_code, oom=oom)

    def finish(self, replica_id: str, exit_code: int = 0) -> None:
        """A one-off run (or any replica) ends by itself with `exit_code`."""
        self.crash(replica_id, exit_code)

    def exit_on_start(self, image_or_project: str, code: int = 1) -> None:
        """Replicas of this image or project started from now on die at once."""
        self._add_rule(_StartRule("exit", image_or_project, code))

    def slow_start(self, seconds: float, image_or_project: str | None = None) -> None:
        """Replicas started from now on answer HTTP only `seconds` (≤ 5) after starting."""
        self._add_rule(_StartRule("slow", image_or_project, bounded(seconds)))

    def never_serves(self, image_or_project: str | None = None) -> None:
        """Replicas started from now on run but never answer HTTP."""
        self._add_rule(_StartRule("never", image_or_project))

    def answers_with(self, status: int, image_or_project: str | None = None) -> None:
        """Replicas started from now on answer HTTP, but with `status` (500 or more)."""
        self._add_rule(_StartRule("status", image_or_project, status))

    def clear_faults(self) -> None:
        """Forget the start rules and scripted commands (queued build faults stay)."""
        with self._lock:
            self._rules.clear()
            self._scripts.clear()

    def ignores_sigterm(self, replica_id: str) -> None:
        """A stop of this replica ends in SIGKILL (exit code 137) after two kill events."""
        with self._lock:
            self._get("update container", replica_id).stop_code = KILLED

    def script_command(self, argv_prefix: Sequence[str], exit_code: int = 0,
                       output: Sequence[str] = ()) -> None:
        """One-off runs whose command starts with `argv_prefix` print `output` and exit
        with `exit_code` at once (the newest matching script wins)."""
        with self._lock:
            self._scripts.append(_Script(tuple(argv_prefix), exit_code, tuple(output)))

    def vanish(self, replica_id: str) -> None:
        """Removed behind hostd's back: gone, and no event says so."""
        with self._lock:
            self._replicas.pop(replica_id, None)
            self._changed.notify_all()

    def go_away(self, kill_replicas: bool = False) -> None:
        """The engine stops answering: every call raises EngineUnavailable and event
        streams end so. `kill_replicas`: its replicas die with it (exit 137, no events, as
        after an engine restart)."""
        with self._lock:
            self._away = True
            self._outages += 1
            if kill_replicas:
                for rec in self._replicas.values():
                    if rec.running:
                        rec.state, rec.exit_code, rec.finished_at = "exited", KILLED, utcnow()
            self._changed.notify_all()

    def come_back(self) -> None:
        with self._lock:
            self._away = False
            self._changed.notify_all()

    # --- inspection for tests -------------------------------------------------------------
    def history(self) -> list[RuntimeEvent]:
        """Every event emitted so far, in order (events() gives those from its call on)."""
        with self._lock:
            return list(self._events)

    def env_of(self, replica_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._get("inspect container", replica_id).env)

    def write_log(self, replica_id: str, line: str) -> None:
        with self._lock:
            self._get("write to container", replica_id).log.append(
                LogLine(line, self._stamp()))
            self._changed.notify_all()

    def _stamp(self) -> int:
        """A log line's time (under the lock): as the engine's, from the wall clock, and
        never the same twice, so lines written one after the other sort in that order."""
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    def set_usage(self, replica_id: str, cpu_ns: int | None = None,
                  memory_bytes: int | None = None) -> None:
        with self._lock:
            rec = self._get("stats of container", replica_id)
            rec.cpu_ns = rec.cpu_ns if cpu_ns is None else cpu_ns
            rec.memory_bytes = rec.memory_bytes if memory_bytes is None else memory_bytes

    # --- inside (under the lock) ----------------------------------------------------------
    def _get(self, what: str, replica_id: str) -> FakeReplica:
        rec = self._replicas.get(replica_id)
        if rec is None:
            raise missing(what, replica_id)
        return rec

    def _creatable(self, spec: ProcessSpec, names: list[str]) -> None:
        if spec.image not in self._images:
            raise ImageMissing(spec.image, "hostctl up")
        for name in names:
            taken = next((r.id for r in self._replicas.values() if r.name == name), None)
            if taken is not None:
                raise EngineError(f"run container {name} from {spec.image} failed: Conflict. "
                                  f"The container name \"/{name}\" is already in use by "
                                  f"container \"{taken}\"")

    def _create(self, spec: ProcessSpec, name: str, one_off: bool) -> FakeReplica:
        address = None
        if not one_off and spec.process == WEB:  # only web is published (a port, a route)
            address = Address("127.0.0.1", self._next_port)
            self._next_port += 1
        rec = FakeReplica(id=new_replica_id(), name=name, spec=spec, one_off=one_off,
                          address=address, env=dict(spec.env))
        self._replicas[rec.id] = rec
        self._networks.add(spec.user_id)
        self._data.add(spec.project_id)
        return rec

    def _begin(self, rec: FakeReplica) -> Replica:
        rec.state, rec.exit_code, rec.oom_killed = "running", None, False
        rec.started_at = utcnow()
        now = time.monotonic()
        rec.serves_at, rec.answers = now, None
        for rule in self._rules_for(rec, ("slow", "never", "status")):  # the newest only
            rec.serves_at = now + rule.value if rule.kind == "slow" else None
            rec.answers = int(rule.value) if rule.kind == "status" else None
        self._emit("start", rec)
        return rec.snapshot()

    def _exit_on_start(self, rec: FakeReplica) -> None:
        for rule in self._rules_for(rec, ("exit",)):
            self._exit(rec, int(rule.value))

    def _rules_for(self, rec: FakeReplica, kinds: tuple[str, ...]) -> list[_StartRule]:
        if rec.one_off:  # one-off runs follow script_command() and finish()
            return []
        return [r for r in self._rules if r.kind in kinds and r.applies(rec.spec)][-1:]

    def _exit(self, rec: FakeReplica, code: int, oom: bool = False) -> None:
        if oom:
            self._emit("oom", rec)
        rec.state, rec.exit_code, rec.oom_killed = "exited", code, oom
        rec.finished_at = utcnow()
        self._emit("die", rec, code)

    def _emit(self, action: str, rec: FakeReplica, exit_code: int | None = None) -> None:
        self._events.append(RuntimeEvent(action, rec.id, rec.project_id, exit_code))
        self._changed.notify_all()

    def _add_rule(self, rule: _StartRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _script_for(self, command: list[str]) -> _Script | None:
        return next((s for s in reversed(self._scripts)
                     if tuple(command[:len(s.prefix)]) == s.prefix), None)

    def _image_users(self, ref: str) -> list[str]:
        return [rec.id for rec in self._replicas.values() if rec.spec.image == ref]
