"""Writing a project's status: the database first, then a `status_changed` event.

Every status change in hostd (deploy steps, start/stop, a crash seen by the engine
monitor, reconciliation) goes through `StatusBoard.set`, so the API, the event stream
and `hostctl` always agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from hostd.events import STATUS_CHANGED, EventHub
from hostd.store import formation
from hostd.store.models import Project, ProjectStatus
from hostd.store.projects import cron_summary, last_deploy, last_exit

log = logging.getLogger("hostd.status")
REASON_MAX = 2000
WEB1_FIELDS = {"container_id", "host_port", "release_version"}  # web.1's row follows them


class StatusBoard:
    def __init__(self, db_engine: Engine, hub: EventHub) -> None:
        self._db = db_engine
        self._hub = hub

    def set(
        self,
        project_id: str,
        status: ProjectStatus,
        reason: str | None = None,
        *,
        only_if: Iterable[ProjectStatus] | None = None,
        **fields: Any,
    ) -> bool:
        """Set the status (and other columns); with `only_if`, only from those statuses.

        Returns whether the row changed. The condition is part of the UPDATE, so a
        crash report cannot overwrite a stop that happened a moment earlier.
        """
        if reason is not None:
            reason = reason[:REASON_MAX]
        query = update(Project).where(col(Project.id) == project_id)
        if only_if is not None:
            query = query.where(col(Project.status).in_([s.value for s in only_if]))
        values = {"status": status.value, "status_reason": reason, **fields}
        with Session(self._db) as session:
            changed = session.exec(query.values(**values)).rowcount > 0
            session.commit()
            project = session.get(Project, project_id) if changed else None
            if project is not None:  # before the event: the router reloads on it
                formation.sync_web1(session, project)
                session.commit()
                session.refresh(project)
        if project is not None:
            log.info("project %s is %s%s", project_id, status.value,
                     f" ({reason})" if reason else "")
            self._hub.publish(project.user_id, STATUS_CHANGED, status_event(project))
        return changed

    def announce(self, project_id: str) -> None:
        """A `status_changed` event of the project as it is (a field beside the status
        changed: its failing cron jobs)."""
        with Session(self._db) as session:
            project = session.get(Project, project_id)
        if project is not None:
            self._hub.publish(project.user_id, STATUS_CHANGED, status_event(project))

    def update_fields(self, project_id: str, **fields: Any) -> None:
        """Columns that are not the status (container id, host port, image)."""
        with Session(self._db) as session:
            session.exec(update(Project).where(col(Project.id) == project_id).values(**fields))
            session.commit()
            project = session.get(Project, project_id)
            if project is not None and WEB1_FIELDS & fields.keys():
                formation.sync_web1(session, project)
                session.commit()

    def replicas_changed(self, project_id: str) -> None:
        """A replica started serving or stopped: the `status_changed` event again (what
        every router worker reloads its table on), the status unchanged."""
        with Session(self._db) as session:
            project = session.get(Project, project_id)
        if project is not None:
            self._hub.publish(project.user_id, STATUS_CHANGED, status_event(project))


def status_event(project: Project) -> dict[str, Any]:
    """A `status_changed` event's data: the status, how the app has fared, and the
    deploy under way's step and the last one's outcome (as the project's JSON has them)."""
    exited = last_exit(project.last_exit_code, project.last_exit_oom, project.last_exit_at)
    deployed = last_deploy(project.last_deploy_status, project.last_deploy_reason)
    return {
        "projectId": project.id, "status": project.status,
        "status_reason": project.status_reason, "desired_status": project.desired_status,
        "restarts": project.restarts, "release": project.release_version,
        "last_exit": exited.model_dump(mode="json") if exited else None,
        "deploy_step": project.deploy_step,
        "last_deploy": deployed.model_dump(mode="json") if deployed else None,
        "cron": cron_summary(project.cron_failing_json).model_dump(mode="json"),
    }
