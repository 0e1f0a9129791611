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
from hostd.control.appcontainer import app_env
from hostd.control.runtime import EngineError, ProcessSpec, Runtime
from hostd.errors import Conflict, RateLimited
from hostd.naming import USER_LABEL, container_name
from hostd.store.models import Project, User, new_id

log = logging.getLogger("hostd.run")
RUN_OF_LABEL = "hostd.run-of"


def start_project_oneoff(runtime: Runtime, settings: Settings, image: str, name: str,
                         argv: list[str], *, env: dict[str, str], user_id: str,
                         project_id: str) -> str:
    """A one-off run of a project's image (a `run`, or a Procfile's `release:`): the app's
    config vars, limits, network and /data, and a rotated log; its replica's id."""
    labels = {USER_LABEL: user_id, RUN_OF_LABEL: project_id}
    spec = ProcessSpec(project_id=project_id, user_id=user_id, image=image, name=name,
                       env=app_env(settings, env), labels=labels, process="run",
                       command=argv)
    return runtime.run_once(spec).id


@dataclass(frozen=True)
class OneOff:
    container_id: str
    user_id: str
    timeout_s: float


class OneOffs:
    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        self._lock = threading.Lock()
        self._running: dict[str, OneOff] = {}  # container id → the run
        self._jobs: set[str] = set()  # scheduled jobs' runs (hostd.control.cron)

    def active(self) -> set[str]:
        with self._lock:
            return set(self._running) | self._jobs

    def start_job(self, project: Project, owner: User, argv: list[str], env: dict[str, str],
                  tag: str) -> str:
        """A scheduled job's run (hostd.control.cron, which has caps of its own): a one-off
        container as `start`'s, followed here so the reconciler leaves it alone."""
        if not project.image:
            raise Conflict(f"{project.name} has no release to run a job in yet: deploy it first")
        container_id = start_project_oneoff(
            self._runtime, self._settings, project.image,
            container_name(project.name, owner.handle, f"{tag}-{new_id()[:8]}"), argv,
            env=env, user_id=owner.id, project_id=project.id)
        with self._lock:
            self._jobs.add(container_id)
        return container_id

    def end_job(self, container_id: str) -> None:
        """Remove a job's run (killed if it still runs)."""
        with self._lock:
            self._jobs.discard(container_id)
        try:
            self._runtime.remove(container_id)
        except EngineError as exc:  # the reconciler removes it later
            log.warning("could not remove cron container %s: %s", container_id, exc)

    def start(self, project: Project, owner: User, argv: list[str], env: dict[str, str],
              timeout_s: float) -> OneOff:
        """Start `argv` in a fresh container of the project's current image."""
        if not project.image:
            raise Conflict(f"{project.name} has no release to run a command in yet: "
                           "deploy it first")
        place = self._take_place(owner.id)
        try:
            container_id = start_project_oneoff(
                self._runtime, self._settings, project.image,
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
        return self._runtime.wait_exit(run.container_id, run.timeout_s)

    def finish(self, run: OneOff) -> None:
        """Kill (if it still runs) and remove it: a run leaves nothing behind."""
        with self._lock:
            self._running.pop(run.container_id, None)
        try:
            self._runtime.remove(run.container_id)
        except EngineError as exc:  # the reconciler removes it later
            log.warning("could not remove one-off container %s: %s", run.container_id, exc)

    def remove_for_project(self, project_id: str) -> None:
        for replica in self._runtime.replicas():
            if replica.labels.get(RUN_OF_LABEL) == project_id:
                self._runtime.remove(replica.id)

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
