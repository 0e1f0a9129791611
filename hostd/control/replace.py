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
import time
from collections import defaultdict

from hostd.config import Settings
from hostd.control.appcontainer import run_app_container
from hostd.control.exits import ExpectedExits
from hostd.control.status import StatusBoard
from hostd.engine import containers as engine
from hostd.engine.client import EngineError, EngineUnavailable
from hostd.engine.handle import DockerHandle
from hostd.engine.health import wait_until_serving
from hostd.engine.naming import container_name, labels_for
from hostd.errors import Conflict
from hostd.store.models import DesiredStatus, Project, ProjectStatus, User, new_id, utcnow

log = logging.getLogger("hostd.replace")


class Replacer:
    def __init__(self, settings: Settings, docker: DockerHandle, board: StatusBoard,
                 expected: ExpectedExits) -> None:
        self._settings = settings
        self._docker = docker
        self._board = board
        self._expected = expected
        # One change of a project at a time: two replacements would each retire the other's
        # container, two releases would take the same number. Re-entrant: a caller holding
        # it (hostd.control.lifecycle) replaces under it.
        self._locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)

    def changing(self, project_id: str) -> threading.RLock:
        """Held for the whole of a change that replaces a container or makes a release."""
        return self._locks[project_id]

    def replace(self, project: Project, owner: User, env: dict[str, str], why: str,
                image: str | None = None) -> None:
        """Switch `project` (running) to a fresh container of `image` (else its own) with
        `env`; Conflict, with the old container serving on, if the fresh one never serves."""
        image = image or project.image
        assert image is not None
        with self._locks[project.id]:
            client = self._docker.client()
            labels = labels_for(self._settings.instance_label, project.id, owner.id, why)
            info = run_app_container(client, self._settings, image,
                                     container_name(project.name, owner.handle, new_id()),
                                     labels, env)
            problem, port = wait_until_serving(client, info.id, self._settings.health_timeout_s,
                                               project.health_path)
            if problem is not None:
                engine.remove_container(client, info.id, force=True)
                raise Conflict(f"{project.name} did not come up ({problem}); the running "
                               "version is untouched")
            self._board.set(project.id, ProjectStatus.running, None, container_id=info.id,
                            host_port=port, image=image, running_since=utcnow(),
                            crash_streak=0, desired_status=DesiredStatus.running)
        if project.container_id:
            self._retire_later(project.container_id)

    def _retire_later(self, container_id: str) -> None:
        """The old container goes once it has drained (on a thread: the answer need not
        wait for it; the router has switched already)."""
        self._expected.expect(container_id)

        def retire() -> None:
            time.sleep(self._settings.drain_s)
            try:
                engine.remove_container(self._docker.client(), container_id, force=True)
            except (EngineError, EngineUnavailable) as exc:  # the reconciler removes it later
                log.warning("could not remove the replaced container %s: %s",
                            container_id, exc)

        threading.Thread(target=retire, name="retire-container", daemon=True).start()
