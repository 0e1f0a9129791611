"""The engine monitor: follows Docker's events and reports what happens to the apps.

An app that exits on its own (or is OOM-killed, or killed from outside) is reported to the
supervisor, which starts it again after a backoff. When the engine goes away the monitor
says so (`on_engine_gone`), waits, reconnects with backoff, and runs the reconciler, which
brings back what should run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.control.exits import ExpectedExits
from hostd.control.supervisor import Supervisor
from hostd.engine import containers as engine
from hostd.engine.client import EngineUnavailable
from hostd.engine.handle import DockerHandle
from hostd.naming import INSTANCE_LABEL, PROJECT_LABEL
from hostd.store.models import Project

log = logging.getLogger("hostd.monitor")
MAX_BACKOFF_S = 10.0


class EngineMonitor:
    """Follows the engine's events of this instance's containers on a thread of its own;
    `on_connect` runs each time it (re)connects (the reconciler)."""

    def __init__(self, db: Engine, docker: DockerHandle, supervisor: Supervisor,
                 expected: ExpectedExits, instance: str,
                 on_connect: Callable[[], None]) -> None:
        self.db = db
        self.docker = docker
        self.supervisor = supervisor
        self.expected = expected
        self.instance = instance
        self.on_connect = on_connect
        self.connected = threading.Event()
        self._gone_reported = False
        self._killed: set[str] = set()  # containers signalled, not yet dead
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="engine-monitor", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                backoff = 0.5
            except EngineUnavailable:
                self._engine_gone()
            except Exception:
                log.exception("engine monitor failed; retrying")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _engine_gone(self) -> None:
        """Once per outage (and at a start with no engine): projects say why they are down."""
        if self.connected.is_set() or not self._gone_reported:
            log.warning("the Docker engine went away; waiting for it to come back")
            self._gone_reported = True
            try:
                self.supervisor.engine_gone()
            except Exception:
                log.exception("could not mark the projects as waiting for the engine")
        self.connected.clear()
        self.docker.reset()

    def _follow(self) -> None:
        client = self.docker.client()
        label = f"{INSTANCE_LABEL}={self.instance}"
        # Subscribe before reconciling, so nothing that happens in between is missed.
        events = engine.engine_events(client, label, since=int(time.time()))
        self.on_connect()
        self.connected.set()
        self._gone_reported = False
        log.info("following Docker engine events")
        for event in events:
            if self._stop.is_set():
                return
            action = event.get("Action") or event.get("status")
            if action == "kill":
                self._killed.add(str(event.get("id", "")))
            elif action == "die":
                self._on_die(event)
        raise EngineUnavailable("the engine's event stream ended")

    def _on_die(self, event: dict[str, Any]) -> None:
        container_id = str(event.get("id", ""))
        # A kill before the die: someone signalled it, maybe the engine shutting down.
        killed = container_id in self._killed
        self._killed.discard(container_id)
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        project_id = attrs.get(PROJECT_LABEL)
        if not project_id or self.expected.consume(container_id):
            return
        with Session(self.db) as session:
            project = session.get(Project, project_id)
        if project is None or project.container_id != container_id:
            return
        client = self.docker.client()
        state = engine.inspect_container(client, container_id)
        code = attrs.get("exitCode") or (state.exit_code if state else None)
        self.supervisor.crashed(project_id, container_id, int(code) if code is not None else None,
                                bool(state and state.oom_killed), killed=killed)
