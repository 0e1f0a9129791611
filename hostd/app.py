"""`create_app(settings)`: the services (hostd.services), routes, middleware and error
handlers; the lifespan starts and stops what runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
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
from hostd.api.origin import TrustedOriginMiddleware
from hostd.api.routes import (
    auth,
    containers,
    cron,
    events,
    health,
    logs,
    processes,
    projects,
    releases,
    run,
    session,
    source,
)
from hostd.api.session import SessionRenewalMiddleware
from hostd.config import Settings
from hostd.control.runtime import Runtime
from hostd.router import serve as dataplane
from hostd.services import Services, build_services
from hostd.store import dburl
from hostd.web.assets import Assets
from hostd.web.pages import web_router

log = logging.getLogger("hostd")


class ErrorBody(BaseModel):
    error: str
    message: str
    statusCode: int


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start what runs (deploy workers, engine monitor, router, metrics collector) and
    stop it again, then close the engine and database handles."""
    services: Services = app.state.services
    settings = services.settings
    log.info("hostd %s: API on http://%s:%d, data in %s, database %s, instance %s",
             __version__, settings.host, settings.port, settings.data_dir,
             dburl.shown(services.db.url), settings.instance_label)
    services.hub.bind(asyncio.get_running_loop())
    await anyio.to_thread.run_sync(services.reconciler.mark_interrupted)
    await services.reads.open()
    services.deployer.start()
    services.monitor.start()
    await anyio.to_thread.run_sync(services.cron.start)
    async with dataplane.running(settings, services.routes, services.requests, services.hub,
                                 services.drains):
        services.collector.start()
        try:
            yield
        finally:
            await services.collector.stop()
    services.monitor.stop()
    await anyio.to_thread.run_sync(services.cron.stop)
    services.followers.close()
    services.uploads.close()
    services.supervisor.close()
    services.runtime.close()
    await services.reads.close()
    if services.loop_reader is not None:
        services.loop_reader.dispose()
    services.db.dispose()


def create_app(settings: Settings | None = None,
               make_runtime: Callable[[Settings], Runtime] | None = None) -> FastAPI:
    """The API for `settings` (else read from the environment), its services built once
    and kept as `app.state.services`; nothing runs until the lifespan starts. The engine:
    see build_services."""
    settings = settings or Settings()
    services = build_services(settings, make_runtime)
    app = FastAPI(
        title="hostd", version=__version__, lifespan=_lifespan,
        description="A PaaS on your own machine: users, projects and their containers.",
        # FastAPI's own /docs and /redoc load their scripts from a CDN: hostd.web serves
        # both from files of its own, with the dashboard.
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        # hostd exports no OpenTelemetry; left on, FastAPI asks for providers per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services

    install_error_handlers(app)
    install_openapi(app)
    # The most requested routes first: FastAPI tries the routers in order (and each
    # router's routes in order), twice per request, so a read route at the end of the
    # list paid for matching every route before it.
    # 403 QuotaExceeded: create, deploy and start may pass a per-user quota.
    app.include_router(projects.router, prefix="/api/projects", tags=["projects"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    # 429: too many open streams (HOSTD_MAX_STREAMS_PER_USER).
    app.include_router(events.router, prefix="/api/containers", tags=["events"],
                       responses=_errors(401, 429, 500))
    app.include_router(containers.router, prefix="/api/containers", tags=["containers"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 500, 503))
    # 403: a change from a foreign Origin; 415: a body that is not JSON (hostd.api.origin,
    # hostd.api.bodies). Read-only routers can meet neither.
    app.include_router(auth.router, prefix="/api/auth", tags=["auth"],
                       responses=_errors(400, 401, 403, 409, 413, 415, 429, 500))
    # The browser's sign-in (the session cookie); 403 also: a change without its CSRF token.
    app.include_router(session.router, prefix="/api/auth", tags=["auth"],
                       responses=_errors(400, 401, 403, 409, 413, 415, 429, 500))
    app.include_router(source.router, prefix="/api/projects", tags=["projects"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    app.include_router(releases.router, prefix="/api/projects", tags=["releases"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    app.include_router(logs.router, prefix="/api/projects", tags=["logs"],
                       responses=_errors(400, 401, 404, 429, 500, 503))
    # The formation (issue 26): 403 a scale past the memory quota, 409 a replica that
    # never served.
    app.include_router(processes.router, prefix="/api/projects", tags=["processes"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    app.include_router(run.router, prefix="/api/projects", tags=["run"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    app.include_router(cron.router, prefix="/api/projects", tags=["cron"],
                       responses=_errors(400, 401, 403, 404, 409, 413, 415, 429, 500, 503))
    app.include_router(health.router, tags=["health"])

    app.include_router(web_router(Assets("pages"), Assets("static")))

    # A browser session used now gets its cookie renewed (hostd.api.session).
    app.add_middleware(SessionRenewalMiddleware)
    if settings.frontend_url:
        app.add_middleware(
            JSONCORSMiddleware, allow_origins=[settings.frontend_url], allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"],
        )
    # The source upload streams to disk under its own cap (HOSTD_MAX_SOURCE_MB).
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       exempt=source.is_upload_request)
    # Outside CORS and the body limit: a foreign Host or Origin costs nothing more.
    app.add_middleware(TrustedOriginMiddleware, port=settings.port,
                       allowed_hosts=settings.allowed_hosts, frontend_url=settings.frontend_url,
                       apps_domain=settings.apps_domain)
    app.add_middleware(AccessLogMiddleware)
    return app
