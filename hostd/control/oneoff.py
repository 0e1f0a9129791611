"""One-off commands (`hostctl run NAME -- CMD …`): a fresh container of the project's
current release, with its config vars, limits and network, no router traffic, a time
limit, at most HOSTD_RUNS_PER_USER of a user's at once.

Its containers carry `hostd.run-of=<project>`, not `hostd.project`: a deploy's switch and
the reconciler's per-project bookkeeping never take one for an app container. One still
there when the daemon starts (it stopped mid-run) is removed by the reconciler.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from hostd.config import Settings
from hostd.control.appcontainer import app_env, app_network
from hostd.engine import containers as engine
from hostd.engine.client import EngineClient, EngineError
from hostd.engine.datavol import data_images
from hostd.engine.handle import DockerHandle
from hostd.engine.oneoff import exit_code, start_oneoff
from hostd.engine.volumes import data_mount, ensure_data_volume
from hostd.errors import Conflict, RateLimited
from hostd.naming import INSTANCE_LABEL, USER_LABEL, container_name
from hostd.store.models import Project, User, new_id

log = logging.getLogger("hostd.run")
RUN_OF_LABEL = "hostd.run-of"


def start_project_oneoff(client: EngineClient, settings: Settings, image: str, name: str,
                         argv: list[str], *, env: dict[str, str], user_id: str,
                         project_id: str) -> str:
    """A one-off container of a project's image (a `run`, or a Procfile's `release:`):
    the app containers' config vars, limits, network, /data and rotated log; its id."""
    labels = {INSTANCE_LABEL: settings.instance_label, USER_LABEL: user_id,
              RUN_OF_LABEL: project_id}
    return start_oneoff(
        client, image, name, argv, labels=labels, env=app_env(settings, env),
        memory_bytes=settings.container_memory_mb * 1024**2,
        nano_cpus=int(settings.container_cpus * 1e9), pids_limit=settings.container_pids,
        log_max_mb=settings.container_log_mb, log_files=settings.container_log_files,
        network=app_network(client, settings, user_id),
        mounts=data_mount(ensure_data_volume(client, settings.instance_label, project_id,
                                             data_images(settings))))


@dataclass(frozen=True)
class OneOff:
    container_id: str
    user_id: str
    timeout_s: float


class OneOffs:
    def __init__(self, settings: Settings, docker: DockerHandle) -> None:
        self._settings = settings
        self._docker = docker
        self._lock = threading.Lock()
        self._running: dict[str, OneOff] = {}  # container id → the run

    def active(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def start(self, project: Project, owner: User, argv: list[str], env: dict[str, str],
              timeout_s: float) -> OneOff:
        """Start `argv` in a fresh container of the project's current image."""
        if not project.image:
            raise Conflict(f"{project.name} has no release to run a command in yet: "
                           "deploy it first")
        place = self._take_place(owner.id)
        try:
            container_id = start_project_oneoff(
                self._docker.client(), self._settings, project.image,
                container_name(project.name, owner.handle, f"run-{new_id()[:8]}"), argv,
                env=env, user_id=owner.id, project_id=project.id)
        except BaseException:
            with self._lock:
                self._running.pop(place, None)
            raise
        run = OneOff(container_id, owner.id, timeout_s)
        with self._lock:
            self._running.pop(place, None)
            self._running[container_id] = run
        log.info("run %s in %s (%s)", argv[0][:100], project.id, container_id[:12])
        return run

    def wait(self, run: OneOff) -> int | None:
        """Its exit code; None when it ran out of time (it is then killed). Blocks."""
        return exit_code(self._docker.client(), run.container_id, run.timeout_s)

    def finish(self, run: OneOff) -> None:
        """Kill (if it still runs) and remove it: a run leaves nothing behind."""
        with self._lock:
            self._running.pop(run.container_id, None)
        try:
            engine.remove_container(self._docker.client(), run.container_id, force=True)
        except EngineError as exc:  # the reconciler removes it later
            log.warning("could not remove one-off container %s: %s", run.container_id, exc)

    def remove_for_project(self, project_id: str) -> None:
        client = self._docker.client()
        for state in engine.list_labelled_containers(client, RUN_OF_LABEL, project_id):
            if state.labels.get(INSTANCE_LABEL) == self._settings.instance_label:
                engine.remove_container(client, state.id, force=True)

    def _take_place(self, user_id: str) -> str:
        """A place among the user's runs, held under a key of its own until the
        container exists; RateLimited when they have HOSTD_RUNS_PER_USER already."""
        cap = self._settings.runs_per_user
        with self._lock:
            if sum(1 for r in self._running.values() if r.user_id == user_id) >= cap:
                raise RateLimited(f"You already have {cap} commands running (at most "
                                  f"{cap}, HOSTD_RUNS_PER_USER): wait for one to end",
                                  retry_after=5)
            place = f"starting-{new_id()}"
            self._running[place] = OneOff("", user_id, 0)
        return place
