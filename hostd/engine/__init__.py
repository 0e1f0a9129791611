"""hostd's Docker boundary: the only package that imports ``docker`` (the user's source,
read and planned without an engine, is hostd.source).

Modules, each with one job:

* ``client``            connect/ping, the error classes, the one docker-error translator
* ``handle``            the daemon's one lazily connected client, reconnecting after outages
* ``naming``            names and labels of what hostd creates (instance, project, user)
* ``images``            offline base images (bootstrap) and the per-deploy base choice
* ``base_prune``        removing old base tags that nothing in use is built on
* ``context``           the build context tar hostd makes itself, .dockerignore applied
* ``dockerfile_policy`` which images a repository's own Dockerfile may build on
* ``networks``          the per-instance bridge builds run on, held only while they run
* ``usernet``           a bridge per user's apps; subnets from hostd's own pool
* ``leftovers``         everything an instance made, found by its label (uninstall)
* ``cgroups``           the pids-limited parent cgroup of one build's step containers
* ``builds``            builds bounded in time, CPU, memory, pids and output; stoppable
* ``project_images``    finding the images built for projects, and a build's untagged stages
* ``containers``        run, start/stop/remove, inspect, list, logs, events; image exists/remove
* ``logs``              log chunks re-split into lines; a followed log another thread closes
* ``health``            waiting for an app to answer HTTP, and why it exited
* ``stats``             CPU and memory readings of running containers

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
)
from hostd.engine.health import wait_http
from hostd.engine.images import (
    BOOTSTRAP_COMMAND,
    base_image_for,
    bootstrap_base_images,
    resolve_base_images,
)
from hostd.source.templates import (
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
