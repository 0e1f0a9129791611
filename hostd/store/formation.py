"""A project's formation (how many replicas of each process type run) and its replica rows.

The owner's choices live in `Project.formation_json` ({"worker": 1}: only the types they
set, by `PATCH /api/projects/:id/formation`, or app.json's `formation` for types they had
never set). A type not named there runs its default (`DEFAULT_QUANTITY`: `web` 1, every
other type 0, as Heroku's). The choices outlive deploys, config changes and rollbacks: a
release only says which types exist (`Release.processes_json`, `{}` = the image's own
command, which is `web`), and a type a release lacks simply does not run in it.

Each replica the runtime runs is a `process_replicas` row (hostd.control.formation writes
and removes them); web.1 is also the project's `container_id`/`host_port` (kept in step
by hostd.control.status), so everything that reads those keeps working.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlmodel import Session, col, select

from hostd.errors import ValidationError
from hostd.store import releases
from hostd.store.models import Project, Release
from hostd.store.models.processes import DEFAULT_QUANTITY, ProcessReplica

WEB = "web"
QUANTITY_MAX = 20  # replicas of one type


def owner_set(project: Project) -> dict[str, int]:
    """The quantities the owner (or app.json, first) set, by type."""
    try:
        raw = json.loads(project.formation_json or "{}")
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int)}


def types_of(processes: Mapping[str, str]) -> list[str]:
    """A release's process types: `{}` is the image's own command, `web`."""
    return list(processes) if processes else [WEB]


def effective(project: Project, processes: Mapping[str, str]) -> dict[str, int]:
    """How many replicas of each of a release's types should run."""
    chosen = owner_set(project)
    return {name: chosen.get(name, DEFAULT_QUANTITY.get(name, 0))
            for name in types_of(processes)}


def current_types(session: Session, project: Project) -> dict[str, str]:
    """The current release's types and commands ({} when it has none yet)."""
    release = current_release(session, project)
    return releases.processes_of(release) if release is not None else {}


def current_release(session: Session, project: Project) -> Release | None:
    if project.release_version is None:
        return None
    return releases.get(session, project.id, project.release_version)


def web_off(project: Project, processes: Mapping[str, str]) -> bool:
    """The release has a `web` type and its owner scaled it to 0 (`ps:scale web=0`)."""
    return WEB in types_of(processes) and effective(project, processes).get(WEB) == 0


def runs_web(project: Project, processes: Mapping[str, str]) -> bool:
    """The release has a `web` type and at least one replica of it should run."""
    return WEB in types_of(processes) and not web_off(project, processes)


def replica_count(session: Session, project: Project) -> int:
    """The replicas the project runs at its formation (1 before its first release, at
    least 1 for anything that runs but web scaled to 0: what the memory quota counts)."""
    wanted = effective(project, current_types(session, project))
    total = sum(wanted.values())
    return total if wanted.get(WEB) == 0 else max(1, total)


def check_change(body: Mapping[str, object], types: list[str]) -> dict[str, int]:
    """A formation change (`{"web": 3}`) checked against the release's types: a
    ValidationError names the first bad entry."""
    if not body:
        raise ValidationError("name at least one process type, as {\"web\": 2}")
    changes: dict[str, int] = {}
    for name, value in body.items():
        shown = repr(name[:64])
        if name not in types:
            raise ValidationError(f"{shown} is not a process type of the current release "
                                  f"(its types: {', '.join(types)})")
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 0 <= value <= QUANTITY_MAX:
            raise ValidationError(f"the quantity of {shown} must be a whole number from 0 "
                                  f"to {QUANTITY_MAX}")
        changes[name] = value
    return changes


def store(project: Project, changes: Mapping[str, int]) -> None:
    """The owner's new choices over the old ones; the caller commits."""
    project.formation_json = json.dumps({**owner_set(project), **changes}, sort_keys=True)


def first_from_app_json(project: Project, app_formation: Mapping[str, int]) -> None:
    """app.json's `formation` for the types the owner never set; the caller commits."""
    chosen = owner_set(project)
    fresh = {name: min(max(int(q), 0), QUANTITY_MAX) for name, q in app_formation.items()
             if name not in chosen}
    if fresh:
        store(project, fresh)


# --- replica rows -------------------------------------------------------------------------


def rows(session: Session, project_id: str) -> list[ProcessReplica]:
    query = (select(ProcessReplica).where(ProcessReplica.project_id == project_id)
             .order_by(col(ProcessReplica.process), col(ProcessReplica.number)))
    return list(session.exec(query))


def stop_serving(session: Session, project_id: str) -> bool:
    """None of the project's replicas serves (the engine went away: their ports are gone
    with it); whether any did. The caller commits."""
    serving = [row for row in rows(session, project_id) if row.serving]
    for row in serving:
        row.serving = False
        session.add(row)
    return bool(serving)


def others_restarts(session: Session, project: Project) -> int:
    """The restarts of the project's replicas other than web.1 (its own are the
    project's `restarts` less these: the project's counts every replica's)."""
    return sum(row.restarts for row in rows(session, project.id)
               if row.id != project.container_id)


def sync_web1(session: Session, project: Project) -> None:
    """web.1's row follows the project's `container_id` and `host_port` (the deploy's
    switch, a restart, a crash restart move them); the caller commits. It serves while the
    project runs on a port."""
    for row in rows(session, project.id):
        if row.process == WEB and row.number == 1 and row.id != project.container_id:
            session.delete(row)
    session.flush()
    if not project.container_id:
        return
    row = session.get(ProcessReplica, project.container_id) or ProcessReplica(
        id=project.container_id, project_id=project.id, process=WEB, number=1)
    row.release_version = project.release_version
    row.host_port = project.host_port
    row.serving = project.host_port is not None and project.status == "running"
    session.add(row)
