"""A project's web process: its spec (config vars, labels), run, or its replicas removed;
its /data and its owner's network dropped with it.

Shared by the deploy steps and the lifecycle (start, config changes, bringing back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from sqlmodel import Session, select

from hostd.config import Settings
from hostd.control.runtime import EngineError, ProcessSpec, Replica, Runtime
from hostd.naming import PROJECT_LABEL, USER_LABEL
from hostd.store import configvars
from hostd.store.models import Project

log = logging.getLogger("hostd.lifecycle")
DATA_REMOVAL_TRIES = 6


def run_app_container(runtime: Runtime, settings: Settings, image: str, name: str,
                      labels: dict[str, str], env: dict[str, str]) -> Replica:
    """A project's web process with its config vars, on its owner's network, with the
    limits the runtime applies from settings. The engine never restarts it: hostd does
    (hostd.control.supervisor)."""
    labels = {**labels, configvars.ENV_LABEL: configvars.fingerprint(env)}
    spec = ProcessSpec(project_id=labels[PROJECT_LABEL], user_id=labels[USER_LABEL],
                       image=image, name=name, env=app_env(settings, env), labels=labels)
    return runtime.run(spec).first


def app_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The config vars, and WEB_CONCURRENCY (gunicorn's and others' worker count) from
    the container's CPU quota unless the owner set it: 2 per CPU plus 1."""
    workers = max(2, int(2 * settings.container_cpus) + 1)
    return {"WEB_CONCURRENCY": str(workers), **env}


def remove_project_containers(runtime: Runtime, project_id: str,
                              say: Callable[[str], None] | None = None,
                              keep: Collection[str | None] = ()) -> None:
    """Every replica of the project (but those in `keep`), made by this instance."""
    for replica in runtime.replicas(project_id):
        if replica.id not in keep:
            runtime.remove(replica.id)
            if say:
                say(f"removed the previous container {replica.name}")


def drop_data(runtime: Runtime, project_id: str) -> None:
    """A deleted project's /data volume goes with it (one still in use by a container that
    drains is removed by the reconciler later)."""
    for attempt in range(DATA_REMOVAL_TRIES):
        try:
            runtime.remove_data(project_id)
            return
        except EngineError as exc:
            if attempt == DATA_REMOVAL_TRIES - 1:
                log.warning("could not remove the data of project %s yet: %s", project_id,
                            exc)
            else:  # a container still going (its removal in progress) holds it
                time.sleep(0.5)


def drop_network_if_unused(session: Session, runtime: Runtime, user_id: str) -> None:
    """The user's network goes with their last project (a container still draining keeps
    it; the reconciler removes it later)."""
    if session.exec(select(Project.id).where(Project.user_id == user_id)).first():
        return
    try:
        runtime.remove_user_network(user_id)
    except EngineError as exc:
        log.warning("could not remove the network of user %s: %s", user_id, exc)
