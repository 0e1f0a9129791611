"""A deploy's build on the Docker engine: the Dockerfile chosen and checked, the context
written beside the checkout, the classic builder bounded (time, memory, pids, output) on
the instance's build network, and the earlier stages it left told to the caller.

What DockerRuntime.build runs; the control plane sees only the port's BuildRequest,
BuiltImage and errors.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import docker

from hostd.config import Settings
from hostd.control.runtime import BuildRefused, BuildRequest, BuiltImage, EngineError, ImageMissing
from hostd.engine.builds import BuildLimits, build_context
from hostd.engine.cgroups import build_cgroup
from hostd.engine.context import SourceLimits, SourceTooLarge, write_context
from hostd.engine.dockerfile_policy import DisallowedDockerfile, check_repository_dockerfile
from hostd.engine.images import node_base_for, resolve_base_images
from hostd.engine.networks import BUILD_NETWORKS
from hostd.engine.project_images import untagged_among
from hostd.naming import READ_ONLY, ROOTFS_LABEL
from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.source.node_versions import NoNodeLine
from hostd.source.templates import (
    TEMPLATE_BASES,
    BuildPlan,
    has_own_dockerfile,
    prepare_build_context,
)

# The classic builder prints the image of each finished step as " ---> 0123456789ab".
STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})$")


def build_release(client: docker.DockerClient, settings: Settings, request: BuildRequest,
                  stages: Callable[[list[str]], None]) -> BuiltImage:
    """Build `request.tag` from `request.checkout` (see the module's text)."""
    plan = _plan(client, settings, request)
    request.on_log("using the repository's own Dockerfile" if plan.uses_repo_dockerfile
                   else f"using the {request.template} template")
    step_ids: set[str] = set()

    def on_log(line: str) -> None:
        match = STEP_IMAGE.match(line)
        if match:
            step_ids.add(match.group(1))
        request.on_log(line)

    labels = dict(request.labels)
    if plan.read_only_rootfs:  # its containers may run read-only (DockerRuntime.run)
        labels[ROOTFS_LABEL] = READ_ONLY
    try:
        with _context_file(request, plan, settings) as context, \
                build_cgroup(client, f"hostd-build-{request.deployment_id}",
                             settings.build_pids) as cgroup, \
                BUILD_NETWORKS.held(client, settings.instance_label,
                                    str(settings.app_subnets)) as network:
            limits = BuildLimits(
                memory_bytes=settings.build_memory_mb * 2**20, cpus=settings.build_cpus,
                timeout_s=settings.build_timeout_s, log_bytes=settings.build_log_mb * 2**20,
                network=network, cgroup_parent=cgroup)
            build_context(client, context, request.tag, labels, limits, on_log,
                          request.cancel)
    finally:
        _tell_stages(client, step_ids, stages, request.on_log)
    return BuiltImage(tag=request.tag, uses_repo_dockerfile=plan.uses_repo_dockerfile)


def _plan(client: docker.DockerClient, settings: Settings, request: BuildRequest) -> BuildPlan:
    """Choose the Dockerfile (links refused); BuildRefused if unfit. The source caps hold
    twice already: on the checkout while git writes it (clonewatch), and on the context
    while it is written (write_context)."""
    checkout = Checkout(request.checkout)
    try:
        needed = () if has_own_dockerfile(checkout) else TEMPLATE_BASES[request.template]
        bases = resolve_base_images(client, log=request.on_log, needed=needed)
        if "node" in needed:  # the project's line (engines.node, .nvmrc), newest by default
            bases["node"] = node_base_for(client, checkout, request.on_log)
        plan = prepare_build_context(request.template, checkout, bases,
                                     settings.build_ca_bundle)
        if plan.uses_repo_dockerfile:
            # Its bases, --from and ADD sources must be allowed (see dockerfile_policy);
            # the text checked is the text built: it goes into the context as read.
            check_repository_dockerfile(client, plan.dockerfile, settings.allowed_images)
        return plan
    except (DisallowedDockerfile, NoNodeLine) as exc:
        raise BuildRefused(str(exc)) from None
    except (UnsafeCheckout, SourceTooLarge) as exc:
        raise BuildRefused(f"the repository can't be built: {exc}") from None
    except ImageMissing as exc:
        raise BuildRefused(f"{exc}, then deploy again") from None


@contextlib.contextmanager
def _context_file(request: BuildRequest, plan: BuildPlan,
                  settings: Settings) -> Iterator[BinaryIO]:
    """The build context, written beside (never into) the checkout, then read back."""
    started = time.monotonic()
    path = request.workdir / "context.tar"
    limits = SourceLimits(max_bytes=settings.max_source_mb * 2**20,
                          max_files=settings.max_source_files)
    try:
        with path.open("w+b") as out:
            summary = write_context(Checkout(request.checkout), out, plan.dockerfile,
                                    plan.extra, limits)
            request.on_log(f"build context: {summary.files} files, "
                           f"{summary.bytes / 2**20:.1f} MB in "
                           f"{(time.monotonic() - started) * 1000:.1f} ms")
            out.seek(0)
            yield out
    except (UnsafeCheckout, SourceTooLarge) as exc:
        raise BuildRefused(f"the repository can't be built: {exc}") from None
    finally:
        path.unlink(missing_ok=True)


def _tell_stages(client: docker.DockerClient, step_ids: set[str],
                 stages: Callable[[list[str]], None], log: Callable[[str], None]) -> None:
    """What the build left untagged, even when it failed (see hostd.control.stages)."""
    try:
        left = untagged_among(client, step_ids)
    except EngineError as exc:
        log(f"could not list the build's stage images: {exc}")
        return
    stages(left)
