"""The engine monitor: follows Docker's events and keeps project statuses true.

An app that exits on its own (or is OOM-killed, or killed from outside) becomes `error`
with its exit code within a second or so. When the engine goes away the monitor
waits, reconnects with backoff, and reconciles everything it may have missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.control.lifecycle import ExpectedExits
from hostd.control.status import StatusBoard
from hostd.engine import containers as engine
from hostd.engine.client import EngineError, EngineUnavailable
from hostd.engine.handle import DockerHandle
from hostd.engine.health import exit_reason
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL
from hostd.store.models import Project, ProjectStatus

log = logging.getLogger("hostd.monitor")
MAX_BACKOFF_S = 10.0


class EngineMonitor:
    """Follows the engine's events of this instance's containers on a thread of its own;
    `on_connect` runs each time it (re)connects (the reconciler)."""

    def __init__(self, db: Engine, docker: DockerHandle, board: StatusBoard,
                 expected: ExpectedExits, instance: str,
                 on_connect: Callable[[], None]) -> None:
        self.db = db
        self.docker = docker
        self.board = board
        self.expected = expected
        self.instance = instance
        self.on_connect = on_connect
        self.connected = threading.Event()
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
                if self.connected.is_set():
                    log.warning("the Docker engine went away; waiting for it to come back")
                self.connected.clear()
                self.docker.reset()
            except Exception:
                log.exception("engine monitor failed; retrying")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _follow(self) -> None:
        client = self.docker.client()
        label = f"{INSTANCE_LABEL}={self.instance}"
        # Subscribe before reconciling, so nothing that happens in between is missed.
        events = engine.engine_events(client, label, since=int(time.time()))
        self.on_connect()
        self.connected.set()
        log.info("following Docker engine events")
        for event in events:
            if self._stop.is_set():
                return
            if (event.get("Action") or event.get("status")) == "die":
                self._on_die(event)
        raise EngineUnavailable("the engine's event stream ended")

    def _on_die(self, event: dict[str, Any]) -> None:
        container_id = str(event.get("id", ""))
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
        # The event carries the exit code; the state may already show a restart.
        code = attrs.get("exitCode") or (state.exit_code if state else None)
        reason = exit_reason(int(code) if code is not None else None,
                             bool(state and state.oom_killed))
        if self.board.set(project_id, ProjectStatus.error, reason,
                                    only_if=[ProjectStatus.running]):
            # The restart policy would bring a crashing app back in a loop; stop it so
            # `error` stays true and its logs stay readable.
            with contextlib.suppress(EngineError):
                engine.stop_container(client, container_id, timeout=1)
