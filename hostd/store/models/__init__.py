"""The tables, and the public shapes the API returns.

A model family per entity, one module each (users, projects, deployments and releases):
the table, the `Create` body and the `Public` response. Routes return only public
models, so a password hash or an internal column (container id, host port) can never
reach a response. Everything is re-exported here: `from hostd.store.models import …`.
"""

from hostd.store.models.common import (
    DeployOutcome,
    DesiredStatus,
    Message,
    ProjectSource,
    ProjectStatus,
    _Body,
    as_utc,
    iso_utc,
    new_id,
    utcnow,
)
from hostd.store.models.cron import (
    FAILING_STATUSES,
    CronJobList,
    CronJobPublic,
    CronRun,
    CronRunList,
    CronRunPublic,
    CronRunStarted,
    CronRunWithLog,
    CronSummary,
    ReleaseCron,
    RunStatus,
)
from hostd.store.models.deployments import (
    Deployment,
    DeploymentList,
    DeploymentPublic,
    DeploymentStatus,
    LogLines,
    Release,
    ReleaseList,
    ReleasePublic,
    RollbackBody,
    RollbackResponse,
    SourceUploaded,
)
from hostd.store.models.processes import DEFAULT_QUANTITY, ProcessReplica
from hostd.store.models.projects import (
    ContainerStatus,
    DeletedProject,
    EnvChanged,
    EnvPatch,
    EnvResponse,
    LastDeploy,
    LastExit,
    Metrics,
    Project,
    ProjectCreate,
    ProjectEnv,
    ProjectList,
    ProjectPatch,
    ProjectPublic,
    ProjectResponse,
    StatusBody,
)
from hostd.store.models.users import (
    AuthResponse,
    LoginBody,
    PasswordChange,
    RegisterBody,
    RevokedToken,
    User,
    UserPublic,
    UserResponse,
)
from hostd.templates import Template

__all__ = [
    "DEFAULT_QUANTITY", "FAILING_STATUSES", "AuthResponse", "ContainerStatus", "CronJobList",
    "CronJobPublic",
    "CronRun", "CronRunList", "CronRunPublic", "CronRunStarted", "CronRunWithLog",
    "CronSummary", "ReleaseCron", "RunStatus", "DeletedProject", "Deployment",
    "DeploymentList", "DeploymentPublic", "DeploymentStatus", "DeployOutcome", "DesiredStatus",
    "EnvChanged", "EnvPatch", "EnvResponse", "LastDeploy", "LastExit", "LogLines", "LoginBody",
    "Message", "Metrics", "PasswordChange", "ProcessReplica", "Project", "ProjectCreate",
    "ProjectEnv", "ProjectList", "ProjectPatch", "ProjectPublic", "ProjectResponse",
    "ProjectSource", "ProjectStatus", "RegisterBody", "Release", "ReleaseList", "ReleasePublic",
    "RevokedToken", "RollbackBody", "RollbackResponse", "SourceUploaded", "StatusBody",
    "Template", "User", "UserPublic", "UserResponse", "_Body", "as_utc", "iso_utc", "new_id",
    "utcnow",
]
