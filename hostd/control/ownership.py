"""Which of the engine's objects carrying this daemon's instance label are its own.

The label alone proves nothing: two installs share one when an operator gives both the
same `HOSTD_INSTANCE`, or when both were made before installs kept an id of their own
(both `default`). What does: project ids are random, and an install's database records
every project it has (`projects`) and every one it deleted (`deleted_projects`). So the
reconciler removes a labelled container or image only when its `hostd.project` label
names a project of its own database and nothing current needs it, and leaves the rest,
saying so. Every verdict carries its reason, for the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hostd.naming import PROJECT_LABEL
from hostd.store.models import DeletedProject, Project
from hostd.store.models.processes import ProcessReplica


class Action(StrEnum):
    keep = "keep"  # this install's, and in use (or its deployer's to settle)
    remove = "remove"  # this install's, and nothing needs it
    foreign = "foreign"  # not made by this install: never touched


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str


@dataclass(frozen=True)
class Ownership:
    """What this install's database says it made."""

    projects: frozenset[str]  # ids of its projects
    deleted: frozenset[str]  # ids of projects it deleted
    current: frozenset[str]  # ids of the containers its projects run now
    busy: frozenset[str] = frozenset()  # projects being deployed: left to the deployer

    def container(self, container_id: str, labels: Mapping[str, str]) -> Verdict:
        """What to do with a container that carries this install's instance label."""
        project = labels.get(PROJECT_LABEL, "")
        if container_id in self.current:
            return Verdict(Action.keep, f"the current container of project {project}")
        if project in self.busy:
            return Verdict(Action.keep, f"project {project} is deploying")
        if project in self.projects:
            return Verdict(Action.remove, f"not the current container of project {project} "
                                          "(left by a deploy or switch cut short)")
        return self._gone(project)

    def image(self, project: str) -> Verdict:
        """What to do with an image built for `project` with this install's label; a
        project's own images are its releases' (retention prunes them, not this)."""
        if project in self.projects:
            return Verdict(Action.keep, f"an image of project {project}")
        return self._gone(project)

    def _gone(self, project: str) -> Verdict:
        if project in self.deleted:
            return Verdict(Action.remove, f"its project {project} was deleted")
        return Verdict(Action.foreign,
                       f"project {project or '(none)'} is not in this install's database")


def load_ownership(db: Engine, busy: frozenset[str] = frozenset()) -> Ownership:
    with Session(db) as session:
        rows = session.exec(select(Project.id, Project.container_id)).all()
        deleted = session.exec(select(col(DeletedProject.project_id))).all()
        replicas = session.exec(select(col(ProcessReplica.id))).all()  # the formation's
    return Ownership(projects=frozenset(pid for pid, _ in rows), deleted=frozenset(deleted),
                     current=frozenset(cid for _, cid in rows if cid) | frozenset(replicas),
                     busy=busy)
