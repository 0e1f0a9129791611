from __future__ import annotations

from fastapi import APIRouter

from hostd import projects
from hostd.deps import CurrentUser, MetricsDep, OwnedProject, SessionDep, SettingsDep
from hostd.models import Message, ProjectCreate, ProjectList, ProjectResponse

router = APIRouter()


@router.get("", response_model=ProjectList)
def list_projects(
    session: SessionDep, user: CurrentUser, settings: SettingsDep, metrics: MetricsDep
) -> ProjectList:
    rows = projects.list_for(session, user)
    return ProjectList(
        projects=[projects.to_public(p, user, settings.router_port, metrics) for p in rows]
    )


@router.post("", status_code=201, response_model=ProjectResponse)
def create_project(
    body: ProjectCreate,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ProjectResponse:
    project = projects.create(session, user, body, allow_local=settings.allow_local_repos)
    return ProjectResponse(project=projects.to_public(project, user, settings.router_port, metrics))


@router.get("/{project_id}", response_model=ProjectResponse)
def get_project(
    project: OwnedProject, user: CurrentUser, settings: SettingsDep, metrics: MetricsDep
) -> ProjectResponse:
    return ProjectResponse(project=projects.to_public(project, user, settings.router_port, metrics))


@router.delete("/{project_id}", response_model=Message)
def delete_project(project: OwnedProject, session: SessionDep) -> Message:
    projects.delete(session, project)
    return Message(message=f"Project {project.name} deleted")
