"""`/api/projects/:id/releases` and `…/rollback`: a project's history, and going back."""

from __future__ import annotations

from fastapi import APIRouter

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import ChangesDep, CurrentUser, LifecycleDep, OwnedProject, SessionDep
from hostd.store import releases
from hostd.store.models import ReleaseList, RollbackBody, RollbackResponse

router = APIRouter(route_class=BodyTypedRoute)


@router.get("/{project_id}/releases", response_model=ReleaseList)
def list_releases(project: OwnedProject, session: SessionDep) -> ReleaseList:
    """Every successful deploy, config change and rollback, newest first."""
    newest = releases.newest(session, project.id, releases.RELEASES_SHOWN)
    return ReleaseList(releases=[releases.to_public(r, project.release_version)
                                 for r in newest])


@router.post("/{project_id}/rollback", response_model=RollbackResponse)
async def rollback(project: OwnedProject, session: SessionDep, user: CurrentUser,
                   lifecycle: LifecycleDep, changes: ChangesDep,
                   body: RollbackBody | None = None) -> RollbackResponse:
    """A new release with the image and config vars of `version` (else the release
    before the current one; no body at all means the same), switched to without
    downtime. 409 when its image was pruned: a rollback never rebuilds from another
    commit. On the changes' threads."""
    version = body.version if body is not None else None
    release, message = await changes.run(project.id, user.id, project.name,
                                         lifecycle.rollback, session, project, user, version)
    return RollbackResponse(release=releases.to_public(release, release.version),
                            message=message)
