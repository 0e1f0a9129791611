"""`build_services(settings)`: every long-lived part of the daemon, built once.

`create_app` builds one `Services` and keeps it as `app.state.services`; routes get its
parts through the typed dependencies of `hostd.api.deps`, and the app's lifespan starts
and stops what runs (deploy workers, engine monitor, router, metrics collector). Nothing
runs yet once it is built: building makes the data directory and migrates the database,
and connects to nothing else (the Docker client connects on first use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from hostd.config import Settings
from hostd.control.change_runner import ChangeRunner
from hostd.control.changes import ChangeLocks
from hostd.control.cron import Scheduler, system_clock
from hostd.control.cron_runs import CronRunner
from hostd.control.deployer import Deployer, worker_threads
from hostd.control.exits import ExpectedExits
from hostd.control.followers import LogFollowers
from hostd.control.lifecycle import Lifecycle
from hostd.control.metrics import MetricsCollector
from hostd.control.monitor import EngineMonitor
from hostd.control.oneoff import OneOffs
from hostd.control.ratelimit import AuthLimits
from hostd.control.reconcile import Reconciler
from hostd.control.retire import Retirer
from hostd.control.runtime import Runtime
from hostd.control.status import StatusBoard
from hostd.control.streams import StreamSlots
from hostd.control.supervisor import Supervisor
from hostd.control.upload_gate import UploadGate
from hostd.engine.datavol import data_images
from hostd.engine.docker_runtime import DockerRuntime
from hostd.engine.handle import DockerHandle
from hostd.events import EventHub
from hostd.router.counts import RequestCounter
from hostd.router.drain import DrainGate
from hostd.router.table import RouteTable
from hostd.store import db, dburl
from hostd.store.auth import PasswordHasher, TokenService, VerifiedTokenCache
from hostd.store.freshness import Freshness
from hostd.store.metrics import MetricsStore
from hostd.store.projects import PublicView
from hostd.store.reads import Reads


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Engine
    loop_reader: Engine | None  # SQLite reads on the event loop (None: other databases)
    hasher: PasswordHasher
    tokens: TokenService
    token_cache: VerifiedTokenCache
    metrics: MetricsStore  # the latest sample per project, what the API shows
    auth_limits: AuthLimits
    streams: StreamSlots  # open event and log streams per user
    hub: EventHub
    runtime: Runtime  # the engine, through the control plane's port
    board: StatusBoard
    expected_exits: ExpectedExits  # stops hostd causes: not crashes
    deployer: Deployer
    lifecycle: Lifecycle
    supervisor: Supervisor  # keeps what should run, running
    reconciler: Reconciler
    monitor: EngineMonitor
    requests: RequestCounter  # the router's request counts
    routes: RouteTable  # the in-process router's Host → project table
    collector: MetricsCollector
    drains: DrainGate  # how replaced containers learn the router no longer needs them
    changes: ChangeRunner  # the threads of changes that wait for an app
    followers: LogFollowers  # the threads that read followed container logs
    oneoffs: OneOffs  # one-off commands running in fresh containers
    reads: Reads  # the read routes' lean way to the database
    uploads: UploadGate  # source uploads in progress, and the threads that check them
    cron: Scheduler  # app.json `cron` jobs, run at their times


def docker_runtime(settings: Settings) -> Runtime:
    return DockerRuntime(settings, DockerHandle(settings.docker_host), data_images(settings))


def pool_threads(settings: Settings) -> int:
    """The threads that may use the database at once: anyio's and the daemon's own
    (hostd.store.db), the change threads (their own limiter) and the deployer's workers."""
    return db.DEFAULT_POOL_THREADS + settings.change_threads + worker_threads(settings)


def build_services(settings: Settings,
                   make_runtime: Callable[[Settings], Runtime] | None = None) -> Services:
    """All of the daemon's parts for `settings`, wired to each other (nothing started);
    `Services.settings` is `settings` with the instance label decided. The engine is the
    local Docker one unless `make_runtime` makes another (tests: an in-memory one)."""
    settings.ensure_data_dir()
    url = dburl.parse(settings.database_uri)  # DatabaseUrlError before anything opens
    engine = db.make_engine(url, pool_threads(settings))
    freshness = Freshness()
    freshness.watch(engine)  # every write hostd makes goes through this engine
    # Decided before `migrate` makes a schema: a database from before installs kept an id
    # keeps the label its containers carry.
    settings = settings.with_instance(existing_database=db.has_schema(engine))
    db.migrate(engine)
    hub = EventHub()
    runtime = (make_runtime or docker_runtime)(settings)
    board = StatusBoard(engine, hub)
    expected = ExpectedExits()
    drains = DrainGate()
    retirer = Retirer(settings, runtime, expected, drains)
    changes = ChangeLocks()  # one change of a project at a time
    deployer = Deployer(settings, engine, runtime, board, retirer, changes)
    lifecycle = Lifecycle(settings, engine, runtime, board, deployer, expected, retirer,
                          changes)
    supervisor = Supervisor(settings, engine, runtime, board, lifecycle)
    oneoffs = OneOffs(settings, runtime)
    reconciler = Reconciler(engine, runtime, settings.instance_label, board, expected,
                            deployer, supervisor, oneoffs)
    monitor = EngineMonitor(engine, runtime, supervisor, expected,
                            on_connect=reconciler.reconcile)
    metrics, requests = MetricsStore(), RequestCounter()
    routes = RouteTable(engine)
    hub.listen(routes.on_event)  # before the collector's listener, as it always was
    collector = MetricsCollector(engine, runtime, hub, metrics, requests,
                                 settings.metrics_interval_s)
    loop_reader = db.make_loop_reader(url)
    runner = CronRunner(settings, engine, runtime, oneoffs, board, hub, system_clock)
    view = PublicView(settings.router_port, metrics, deployer.is_deploying,
                      settings.apps_domain)
    return Services(
        settings=settings, db=engine, loop_reader=loop_reader,
        hasher=PasswordHasher(settings.bcrypt_rounds),
        tokens=TokenService(settings.signing_secret(), settings.jwt_expires_in,
                            settings.session_idle_s),
        token_cache=VerifiedTokenCache(), metrics=metrics,
        auth_limits=AuthLimits.from_settings(settings),
        streams=StreamSlots(settings.max_streams_per_user), hub=hub, runtime=runtime, board=board,
        expected_exits=expected, deployer=deployer, lifecycle=lifecycle,
        supervisor=supervisor, reconciler=reconciler, monitor=monitor, requests=requests,
        routes=routes, collector=collector, drains=drains,
        changes=ChangeRunner(settings.change_threads, settings.changes_per_user),
        followers=LogFollowers(settings.log_followers), oneoffs=oneoffs,
        reads=Reads(engine, loop_reader, view, freshness),
        uploads=UploadGate(settings.upload_threads, settings.uploads_per_user,
                           settings.upload_staging_mb_per_user * 2**20),
        cron=Scheduler(settings, engine, runner),
    )
