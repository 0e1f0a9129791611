"""Every process type of a release, run at the project's formation (issue 26).

A project's `web.1` is what it always was: `projects.container_id`/`host_port`, replaced
by the deploy's steps, the lifecycle's Replacer and the supervisor as before (its
`process_replicas` row follows it: hostd.control.status). Everything else the formation
asks for — `web.2…N` and every replica of the other types — is run here, one runtime
replica per row, labelled with its type (`hostd.process`) and number (`hostd.replica`):

- a `web` replica is health-gated like web.1 (HTTP below 500 on the health path) before
  its row is `serving` (the router balances over serving rows); it is retired through the
  drain (hostd.control.retire) when it goes;
- any other type runs its Procfile command through `sh -c`, with no $PORT and no route;
  it goes with a stop (SIGTERM, then SIGKILL after 10 s), on a thread;
- `converge` makes one release's replicas match the formation: the missing ones start
  (a web one that never serves fails the change, and the ones it started go: the
  replicas serving before serve on), the extra ones go. A deploy converges web before its
  switch and the other types after it (hostd.control.steps), then retires the previous
  release's. Crash restarts of these replicas: hostd.control.replicas.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.config import Settings
from hostd.control.appcontainer import app_env
from hostd.control.retire import Retirer
from hostd.control.runtime import WEB, EngineError, ProcessSpec, Replica, Runtime
from hostd.control.status import StatusBoard
from hostd.errors import Conflict
from hostd.naming import PROCESS_LABEL, REPLICA_LABEL, container_name, labels_for
from hostd.store import configvars, formation, releases
from hostd.store.models import Project, User, new_id, utcnow
from hostd.store.models.processes import ProcessReplica

log = logging.getLogger("hostd.formation")
STOP_TIMEOUT_S = 10  # a worker's SIGTERM grace before SIGKILL


class FormationFailed(Conflict):
    """A replica of the formation never served; the ones serving before serve on."""


@dataclass(frozen=True)
class Target:
    """What one release runs: its version (None: a deploy's, before its switch makes it
    one), image, config vars and process types."""

    version: int | None
    image: str
    env: dict[str, str]
    processes: dict[str, str]
    web_off: bool = False  # its `web` type is scaled to 0: no web.1, no route

    @property
    def has_web_type(self) -> bool:
        return WEB in formation.types_of(self.processes)

    @property
    def has_web(self) -> bool:
        """A web replica should run: the release has `web`, not scaled to 0."""
        return self.has_web_type and not self.web_off


@dataclass(frozen=True)
class Owner:
    """Whose replicas: the project's id and name, its owner's id and handle."""

    project_id: str
    name: str
    user_id: str
    handle: str
    health_path: str = "/"


def owner_of(project: Project, user: User) -> Owner:
    return Owner(project.id, project.name, user.id, user.handle, project.health_path)


def made_with_other_env(state: Replica, env: dict[str, str]) -> bool:
    """The replica was created with other config vars than `env` (label `hostd.env`)."""
    made_with = state.labels.get(configvars.ENV_LABEL, configvars.fingerprint({}))
    return made_with != configvars.fingerprint(env)


class Formation:
    def __init__(self, settings: Settings, db: Engine, runtime: Runtime, board: StatusBoard,
                 retirer: Retirer) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._board = board
        self._retirer = retirer

    # --- what a release runs ------------------------------------------------------------

    def target(self, project: Project) -> Target | None:
        """The project's current release as a Target (None before it has an image)."""
        if project.image is None:
            return None
        with Session(self._db) as session:
            release = formation.current_release(session, project)
            env = configvars.load(session, project.id)
        processes = releases.processes_of(release) if release is not None else {}
        return Target(project.release_version, project.image, env, processes,
                      web_off=formation.web_off(project, processes))

    def without_web(self, project: Project) -> bool:
        """No web.1 should run: its current release has no `web` type (a Procfile
        without `web:`), or web is scaled to 0."""
        target = self.target(project)
        return target is not None and not target.has_web

    def converge(self, project: Project, owner: Owner, target: Target, *,
                 types: Callable[[str], bool] = lambda _: True,
                 say: Callable[[str], None] | None = None) -> list[ProcessReplica]:
        """Start and remove replicas of `target` until the formation holds, for the types
        `types` accepts (web.1 aside: it is the project's container). Returns what it
        started. Raises FormationFailed (what it started removed) or EngineError."""
        with Session(self._db) as session:
            fresh = session.get(Project, project.id) or project
            wanted = formation.effective(fresh, target.processes)
            present = [row for row in formation.rows(session, project.id)
                       if row.release_version == target.version
                       and row.id != fresh.container_id and types(row.process)]
        started: list[ProcessReplica] = []
        extras = [row for row in present if wanted.get(row.process, 0) < row.number
                  or (row.process == WEB and row.number == 1)]
        try:
            for process, quantity in wanted.items():
                if not types(process):
                    continue
                have = {row.number for row in present if row.process == process}
                first = 2 if process == WEB else 1
                missing = [n for n in range(first, quantity + 1) if n not in have]
                # Web a batch at a time, each answering first; the other types at once.
                size = self._settings.rollout_batch if process == WEB else len(missing) or 1
                for at in range(0, len(missing), size):
                    batch: list[ProcessReplica] = []
                    for number in missing[at:at + size]:
                        batch.append(self.run_replica(owner, target, process, number))
                        started.append(batch[-1])  # removed, should what follows fail
                    if say:
                        say(", ".join(f"{process}.{row.number}" for row in batch) + " started")
                    if process == WEB:
                        self._gate(batch, owner)
        except BaseException:
            self.remove(started)
            raise
        self.remove(extras)
        return started

    def run_replica(self, owner: Owner, target: Target, process: str,
                    number: int) -> ProcessReplica:
        """One replica of `process`, and its row (not serving yet)."""
        command = None if process == WEB else ["sh", "-c", target.processes[process]]
        labels = {**labels_for(self._settings.instance_label, owner.project_id,
                               owner.user_id, f"{process}.{number}"),
                  configvars.ENV_LABEL: configvars.fingerprint(target.env),
                  PROCESS_LABEL: process, REPLICA_LABEL: str(number)}
        name = f"{container_name(owner.name, owner.handle, new_id())}.{process}.{number}"
        spec = ProcessSpec(project_id=owner.project_id, user_id=owner.user_id,
                           image=target.image, name=name,
                           env=app_env(self._settings, target.env), labels=labels,
                           process=process, command=command)
        replica = self._runtime.run(spec).first
        row = ProcessReplica(id=replica.id, project_id=owner.project_id, process=process,
                             number=number, release_version=target.version,
                             running_since=utcnow())
        with Session(self._db) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
        return row

    def _gate(self, started: list[ProcessReplica], owner: Owner) -> None:
        """Each new web replica answers before it serves; FormationFailed otherwise."""
        for row in started:
            problem, address = self._runtime.wait_serving(
                row.id, self._settings.health_timeout_s, owner.health_path)
            if problem is not None or address is None:
                why = problem or "no address"
                raise FormationFailed(f"web.{row.number} did not come up ({why}); the "
                                      "replicas serving before serve on")
            self.set_serving(row.id, address.port)
        if any(row.release_version is not None for row in started):
            self._board.replicas_changed(owner.project_id)

    def set_serving(self, replica_id: str, port: int | None) -> None:
        """Its port; it serves on it, unless it is a deploy's, not switched to yet (no
        release: `promote` makes it serve, with the rest of the release, at once)."""
        with Session(self._db) as session:
            row = session.get(ProcessReplica, replica_id)
            if row is not None:
                row.host_port = port
                row.serving = port is not None and row.release_version is not None
                session.add(row)
                session.commit()

    def promote(self, session: Session, project_id: str, pending: Iterable[str],
                version: int) -> list[ProcessReplica]:
        """In a deploy's switch transaction: its new web replicas become `version`'s and
        serve; the previous releases' extra web replicas stop serving (returned, to retire
        once the switch is out). The caller commits."""
        pending = set(pending)
        old = []
        for row in formation.rows(session, project_id):
            if row.id in pending:
                row.release_version, row.serving = version, row.host_port is not None
            elif row.process == WEB and row.number > 1 and row.release_version != version:
                old.append(ProcessReplica.model_validate(row.model_dump()))  # as it served
                row.serving = False
            else:
                continue
            session.add(row)
        return old

    # --- replicas going -----------------------------------------------------------------

    def remove(self, gone: Iterable[ProcessReplica]) -> None:
        """Their rows go now; a serving web replica drains first, the others stop (SIGTERM)
        then go, on threads of their own."""
        gone = list(gone)
        if not gone:
            return
        serving = any(row.serving for row in gone)
        with Session(self._db) as session:
            for row in gone:
                found = session.get(ProcessReplica, row.id)
                if found is not None:
                    session.delete(found)
            session.commit()
        if serving:  # the router's table loses them before the drain counts
            self._board.replicas_changed(gone[0].project_id)
        for row in gone:
            if row.process == WEB:
                self._retirer.retire(row.id, row.host_port if row.serving else None)
            else:
                self._stop_and_remove(row.id)

    def retire_others(self, project: Project, version: int | None,
                      types: Callable[[str], bool] = lambda _: True) -> None:
        """Every replica (but web.1) of a release other than `version`, of the types
        `types` accepts."""
        with Session(self._db) as session:
            current = session.get(Project, project.id)
            keep = current.container_id if current else None
            old = [row for row in formation.rows(session, project.id)
                   if row.release_version != version and row.id != keep
                   and types(row.process)]
        self.remove(old)

    def remove_all(self, project_id: str, keep: str | None) -> None:
        """Every replica of the project but `keep` (web.1, handled by its caller)."""
        with Session(self._db) as session:
            rows = [row for row in formation.rows(session, project_id) if row.id != keep]
        self.remove(rows)

    def stop_all(self, project_id: str, keep: str | None) -> None:
        """Stop every replica but `keep` (a stop of the project): their rows stay, not
        serving, for the next start."""
        with Session(self._db) as session:
            rows = [row for row in formation.rows(session, project_id) if row.id != keep]
        for row in rows:
            self.set_serving(row.id, None)
            self._retirer.expected.expect(row.id)
            try:
                self._runtime.stop(row.id, timeout_s=STOP_TIMEOUT_S)
            except EngineError as exc:  # gone: the next start runs a fresh one
                log.info("replica %s of %s could not be stopped: %s", row.id[:12],
                         project_id, exc)

    def expect_all(self, project_id: str) -> None:
        """Its replicas are about to go by hostd's hand: their exits are no crashes."""
        with Session(self._db) as session:
            for row in formation.rows(session, project_id):
                self._retirer.expected.expect(row.id)

    def _stop_and_remove(self, replica_id: str) -> None:
        self._retirer.expected.expect(replica_id)

        def stop_then_remove() -> None:
            # Gone already, or the engine is away: the removal says which.
            with contextlib.suppress(EngineError):
                self._runtime.stop(replica_id, timeout_s=STOP_TIMEOUT_S)
            try:
                self._runtime.remove(replica_id)
            except EngineError as exc:  # the reconciler removes it later
                log.warning("could not remove replica %s: %s", replica_id[:12], exc)

        threading.Thread(target=stop_then_remove, name="stop-replica", daemon=True).start()

    # --- a start, a restart, a reconcile ------------------------------------------------

    def bring_back(self, project: Project, owner: Owner, target: Target) -> None:
        """After web.1 (a start of the project): its stopped replicas start again, those
        of another release or config go, and the formation's missing ones start. Raises
        FormationFailed when a web replica does not come back."""
        with Session(self._db) as session:
            present = [row for row in formation.rows(session, project.id)
                       if row.id != project.container_id]
        stale, again = [], []
        fingerprint = configvars.fingerprint(target.env)
        for row in present:
            state = self._runtime.inspect(row.id)
            if state is None or row.release_version != target.version \
                    or state.labels.get(configvars.ENV_LABEL) != fingerprint:
                stale.append(row)
            elif not state.running:
                self._runtime.start(row.id)
                again.append(row)
        self.remove(stale)
        self._gate([row for row in again if row.process == WEB], owner)
        self.converge(project, owner, target)
