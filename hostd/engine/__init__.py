"""hostd's Docker boundary: the only package that imports ``docker``.

Modules, each with one job:

* ``client``      connect/ping, the error classes, the one docker-error translator
* ``templates``   pure: template + repository directory -> Dockerfile text
* ``images``      offline base images (bootstrap) and the per-deploy base choice
* ``checkout``    reading a hostile tree without following links (no docker)
* ``context``     the build context tar hostd makes itself, .dockerignore applied
* ``builds``      builds bounded in time, CPU, memory, pids and output; stoppable
* ``containers``  run, start/stop/remove, inspect, list, logs, events, wait_http

Everything blocks (docker SDK, subprocess): callers run it off the event loop.
"""

from hostd.engine.builds import BuildLimits, BuildStopped, build_context, build_image
from hostd.engine.client import (
    BuildFailed,
    ContainerMissing,
    EngineClient,
    EngineError,
    EngineUnavailable,
    ImageMissing,
    connect,
    ping,
    translate_errors,
)
from hostd.engine.containers import (
    ContainerInfo,
    ContainerState,
    container_logs,
    engine_events,
    image_exists,
    inspect_container,
    list_labelled_containers,
    remove_container,
    remove_image,
    restart_container,
    run_container,
    start_container,
    stop_container,
    wait_http,
)
from hostd.engine.images import (
    BOOTSTRAP_COMMAND,
    base_image_for,
    bootstrap_base_images,
    resolve_base_images,
)
from hostd.engine.templates import (
    BaseImages,
    BuildPlan,
    UnknownTemplate,
    default_build_ca_bundle,
    prepare_build_context,
    render_dockerfile,
    show_template,
    template_names,
)

__all__ = [
    "BOOTSTRAP_COMMAND",
    "BaseImages",
    "BuildFailed",
    "BuildLimits",
    "BuildStopped",
    "BuildPlan",
    "ContainerInfo",
    "ContainerMissing",
    "ContainerState",
    "EngineClient",
    "EngineError",
    "EngineUnavailable",
    "ImageMissing",
    "UnknownTemplate",
    "base_image_for",
    "bootstrap_base_images",
    "build_context",
    "build_image",
    "connect",
    "container_logs",
    "default_build_ca_bundle",
    "engine_events",
    "image_exists",
    "inspect_container",
    "list_labelled_containers",
    "ping",
    "prepare_build_context",
    "remove_container",
    "remove_image",
    "render_dockerfile",
    "resolve_base_images",
    "restart_container",
    "run_container",
    "show_template",
    "start_container",
    "stop_container",
    "template_names",
    "translate_errors",
    "wait_http",
]
