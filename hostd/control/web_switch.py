"""`web` scaled to 0 and back (`hostctl scale NAME web=0`, as Heroku's `ps:scale web=0`).

web.1 is the project's container (`projects.container_id`/`host_port`). Scaled to 0, it
goes through the drain as a scale-down's replicas do, once the router has lost its route;
the project stays `running` with no container and no port (the router answers 503: no
web process), its status reason says how to bring web back, and its other types run on.
That is the path of a release without `web` (hostd.control.process_steps NO_WEB), which
the supervisor, the reconciler, a start and a deploy already leave alone
(`Formation.without_web`, `runs_without_web`). Scaled back up, web.1 starts anew from the
current release and answers its health check before the router sends it anything.
"""

from __future__ import annotations

import contextlib

from hostd.config import Settings
from hostd.control.appcontainer import run_app_container
from hostd.control.formation import FormationFailed, Owner, Target
from hostd.control.process_steps import web_scaled_to_zero
from hostd.control.retire import Retirer
from hostd.control.runtime import EngineError, Runtime
from hostd.control.status import StatusBoard
from hostd.naming import container_name, labels_for
from hostd.store.models import Project, ProjectStatus, new_id, utcnow


class WebSwitch:
    def __init__(self, settings: Settings, runtime: Runtime, board: StatusBoard,
                 retirer: Retirer) -> None:
        self._settings = settings
        self._runtime = runtime
        self._board = board
        self._retirer = retirer

    def off(self, project: Project) -> None:
        """web.1 goes: its route first (the status event every router worker reloads
        on), then the drain, on a thread."""
        old, port = project.container_id, project.host_port
        self._board.set(project.id, ProjectStatus.running, web_scaled_to_zero(project.name),
                        container_id=None, host_port=None)
        if old:
            self._retirer.retire(old, port)

    def on(self, project: Project, owner: Owner, target: Target) -> None:
        """web.1 of `target` starts and answers before it is the project's (and serves);
        FormationFailed, the new container removed, when it does not."""
        settings = self._settings
        labels = labels_for(settings.instance_label, owner.project_id, owner.user_id,
                            "scaled")
        replica = run_app_container(self._runtime, settings, target.image,
                                    container_name(owner.name, owner.handle, new_id()),
                                    labels, target.env)
        problem, address = self._runtime.wait_serving(replica.id, settings.health_timeout_s,
                                                      owner.health_path)
        if problem is not None or address is None:
            self._retirer.expected.expect(replica.id)
            with contextlib.suppress(EngineError):  # the reconciler removes it later
                self._runtime.remove(replica.id)
            raise FormationFailed(f"web.1 did not come up ({problem or 'no address'})")
        self._board.set(project.id, ProjectStatus.running, None, container_id=replica.id,
                        host_port=address.port, running_since=utcnow(), crash_streak=0)
