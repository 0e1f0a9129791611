"""`create_app(settings)`: wires settings, the database, services, routes and error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from pydantic import BaseModel

from hostd import __version__
from hostd.api.errors import install_error_handlers
from hostd.api.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    JSONCORSMiddleware,
)
from hostd.api.openapi import install_openapi
from hostd.api.ratelimit import AuthLimits
from hostd.api.routes import auth, containers, events, health, logs, projects
from hostd.config import Settings
from hostd.control.deployer import Deployer
from hostd.control.lifecycle import ExpectedExits, Lifecycle
from hostd.control.monitor import EngineMonitor
from hostd.control.reconcile import mark_interrupted, reconcile
from hostd.control.status import StatusBoard
from hostd.engine.handle import DockerHandle
from hostd.events import EventHub
from hostd.router import serve as dataplane
from hostd.store import db
from hostd.store.auth import PasswordHasher, TokenService, VerifiedTokenCache
from hostd.store.metrics import MetricsStore

log = logging.getLogger("hostd")


class ErrorBody(BaseModel):
    error: str
    message: str
    statusCode: int  # noqa: N815 - the contract's field name


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    log.info("hostd %s: API on http://%s:%d, data in %s", __version__,
             state.settings.host, state.settings.port, state.settings.data_dir)
    state.hub.bind(asyncio.get_running_loop())
    await anyio.to_thread.run_sync(mark_interrupted, state.db_engine, state.lifecycle)
    state.deployer.start()
    state.monitor.start()
    async with dataplane.running(state):
        yield
    state.monitor.stop()
    state.docker.close()
    if state.loop_reader is not None:
        state.loop_reader.dispose()
    state.db_engine.dispose()


def _wire_platform(app: FastAPI, settings: Settings) -> None:
    """The Docker side: engine handle, status board, deployer, lifecycle, monitor."""
    state = app.state
    state.hub = EventHub()
    state.docker = DockerHandle(settings.docker_host)
    state.board = StatusBoard(state.db_engine, state.hub)
    deployer = Deployer(settings, state.db_engine, state.docker, state.board)
    state.deployer = deployer
    state.lifecycle = Lifecycle(settings, state.docker, state.board, deployer, ExpectedExits())

    def on_engine_connect() -> None:
        reconcile(state.db_engine, state.lifecycle)

    state.monitor = EngineMonitor(state.db_engine, state.lifecycle, on_engine_connect)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_data_dir()
    engine = db.make_engine(settings.database_uri)
    db.migrate(engine)

    app = FastAPI(
        title="hostd", version=__version__, lifespan=_lifespan,
        description="A PaaS on your own machine: users, projects and their containers.",
    )
    app.state.settings = settings
    app.state.db_engine = engine
    app.state.loop_reader = db.make_loop_reader(settings.database_uri)
    app.state.hasher = PasswordHasher(settings.bcrypt_rounds)
    app.state.tokens = TokenService(settings.signing_secret(), settings.jwt_expires_in)
    app.state.token_cache = VerifiedTokenCache()
    app.state.metrics = MetricsStore()
    app.state.auth_limits = AuthLimits.from_settings(settings)
    _wire_platform(app, settings)
    dataplane.wire(app.state)

    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router, tags=["health"])
    app.include_router(auth.router, prefix="/api/auth", tags=["auth"],
                       responses=_errors(400, 401, 409, 413, 429, 500))
    app.include_router(projects.router, prefix="/api/projects", tags=["projects"],
                       responses=_errors(400, 401, 404, 409, 413, 429, 500, 503))
    app.include_router(logs.router, prefix="/api/projects", tags=["logs"],
                       responses=_errors(400, 401, 404, 500, 503))
    # Before the container routes: `events` is a route, not a project id.
    app.include_router(events.router, prefix="/api/containers", tags=["events"],
                       responses=_errors(401, 500))
    app.include_router(containers.router, prefix="/api/containers", tags=["containers"],
                       responses=_errors(400, 401, 404, 409, 500, 503))

    if settings.frontend_url:
        app.add_middleware(
            JSONCORSMiddleware, allow_origins=[settings.frontend_url], allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    return app
