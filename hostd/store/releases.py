"""Release records: each successful deploy, config change and rollback makes the next
`vN` of its project; the newest HOSTD_RELEASES_KEPT keep their images."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlmodel import Session, col, select

from hostd.store.models import Project, Release, ReleasePublic

RELEASES_SHOWN = 100


def record(session: Session, project: Project, *, image: str, env: dict[str, str],
           commit: str | None, cause: str, user_id: str | None,
           processes: dict[str, str]) -> Release:
    """The project's next release, made current; the caller commits. `processes`: its
    process types and their commands, in the Procfile's order."""
    newest = session.exec(select(func.max(Release.version))
                          .where(Release.project_id == project.id)).one()
    release = Release(project_id=project.id, version=(newest or 0) + 1, image=image,
                      env_json=json.dumps(env, sort_keys=True), commit=commit,
                      cause=cause[:300], created_by=user_id,
                      processes_json=json.dumps(processes))
    session.add(release)
    project.release_version = release.version
    session.add(project)
    return release


def env_of(release: Release) -> dict[str, str]:
    env = json.loads(release.env_json)
    return {str(name): str(value) for name, value in env.items()}


def processes_of(release: Release) -> dict[str, str]:
    processes = json.loads(release.processes_json)
    return {str(name): str(command) for name, command in processes.items()}


def get(session: Session, project_id: str, version: int) -> Release | None:
    return session.exec(select(Release).where(Release.project_id == project_id,
                                              Release.version == version)).first()


def newest(session: Session, project_id: str, limit: int) -> list[Release]:
    query = (select(Release).where(Release.project_id == project_id)
             .order_by(col(Release.version).desc()).limit(limit))
    return list(session.exec(query))


def kept_images(session: Session, project_id: str, kept: int) -> set[str]:
    """The images the newest `kept` releases run: pruning never removes them."""
    return {release.image for release in newest(session, project_id, kept)}


def kept_images_everywhere(session: Session, kept: int) -> set[str]:
    """The images the newest `kept` releases of every project run (what `hostd images
    prune` must never take the base of)."""
    project_ids = session.exec(select(Release.project_id).distinct()).all()
    return {image for project_id in project_ids
            for image in kept_images(session, project_id, kept)}


def to_public(release: Release, current: int | None) -> ReleasePublic:
    return ReleasePublic(version=release.version, image=release.image, commit=release.commit,
                         cause=release.cause, created_at=release.created_at,
                         current=release.version == current,
                         processes=processes_of(release))


def env_cause(changes: dict[str, str | None], before: dict[str, str]) -> str:
    """"env: set A, B; removed C": the names only, never a value."""
    set_names = sorted(n for n, v in changes.items() if v is not None and before.get(n) != v)
    removed = sorted(n for n, v in changes.items() if v is None and n in before)
    parts = ([f"set {', '.join(set_names)}"] if set_names else []) + \
        ([f"removed {', '.join(removed)}"] if removed else [])
    return "env: " + ("; ".join(parts) or "no change")
