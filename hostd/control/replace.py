"""Replacing a running project's container without dropping a request.

A config change or a restart of a running project starts a fresh container beside the
serving one; once it answers HTTP the project (and with it every router worker, on the
status event) switches to it, and the old one gets HOSTD_DRAIN_SECONDS to finish what was
already sent to it before it goes. A fresh container that never serves is removed and the
old one serves on: a failed change changes nothing. Deploys switch the same way, in
their `switch` step (hostd.control.steps).
"""

from __future__ import annotations

import logging
import threading

from hostd.config import Settings
from hostd.control.appcontainer import run_app_container
from hostd.control.changes import ChangeLocks
from hostd.control.retire import Retirer
from hostd.control.runtime import Runtime
from hostd.control.status import StatusBoard
from hostd.errors import Conflict
from hostd.naming import container_name, labels_for
from hostd.store.models import DesiredStatus, Project, ProjectStatus, User, new_id, utcnow

log = logging.getLogger("hostd.replace")


class Replacer:
    def __init__(self, settings: Settings, runtime: Runtime, board: StatusBoard,
                 retirer: Retirer, changes: ChangeLocks) -> None:
        self._settings = settings
        self._runtime = runtime
        self._board = board
        self._retirer = retirer
        self._changes = changes

    def changing(self, project_id: str) -> threading.RLock:
        """Held for the whole of a change that replaces a container or makes a release."""
        return self._changes.of(project_id)

    def replace(self, project: Project, owner: User, env: dict[str, str], why: str,
                image: str | None = None) -> None:
        """Switch `project` (running) to a fresh container of `image` (else its own) with
        `env`; Conflict, with the old container serving on, if the fresh one never serves."""
        image = image or project.image
        assert image is not None
        with self._changes.of(project.id):
            labels = labels_for(self._settings.instance_label, project.id, owner.id, why)
            info = run_app_container(self._runtime, self._settings, image,
                                     container_name(project.name, owner.handle, new_id()),
                                     labels, env)
            problem, address = self._runtime.wait_serving(
                info.id, self._settings.health_timeout_s, project.health_path)
            if problem is not None or address is None:
                self._runtime.remove(info.id)
                raise Conflict(f"{project.name} did not come up ({problem}); the running "
                               "version is untouched")
            old_port = project.host_port
            self._board.set(project.id, ProjectStatus.running, None, container_id=info.id,
                            host_port=address.port, image=image, running_since=utcnow(),
                            crash_streak=0, desired_status=DesiredStatus.running)
            # Inside the lock: once the next change may start, the router's table (in
            # every worker) no longer points here; the drain itself goes on, on a thread.
            if project.container_id:
                self._retirer.retire(project.container_id, old_port)
