"""Everything on the engine that one instance made, found by its label, and removed.

`hostd uninstall` (hostd.admin.uninstall) is the caller: containers first (the
networks and volumes they hold are then free), then images, networks, volumes. Each
object is one `Leftover`; a removal the engine refuses is reported, never raised, so one
stubborn object leaves the rest to go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import docker
import docker.errors

from hostd.engine.client import EngineError, EngineUnavailable, translate_errors
from hostd.naming import INSTANCE_LABEL

KINDS = ("container", "image", "network", "volume")  # the order they are removed in


@dataclass(frozen=True)
class Leftover:
    kind: str  # one of KINDS
    ref: str  # what the engine removes it by: an id, or a volume's name
    name: str  # what a person reads: a name or tag

    def __str__(self) -> str:
        short = self.ref.removeprefix("sha256:")[:12]
        return f"{self.kind} {self.name}" + ("" if self.name == self.ref else f" ({short})")


def instance_leftovers(client: docker.DockerClient, instance: str) -> list[Leftover]:
    """Every container, image, network and volume labelled `hostd.instance=<instance>`,
    in the order they can be removed."""
    label = {"label": f"{INSTANCE_LABEL}={instance}"}
    with translate_errors(f"list what {instance} made"):
        found = [Leftover("container", c["Id"], (c.get("Names") or [c["Id"]])[0].lstrip("/"))
                 for c in client.api.containers(all=True, filters=label)]
        found += [Leftover("image", i["Id"], (i.get("RepoTags") or [i["Id"]])[0])
                  for i in client.api.images(filters=label)]
        found += [Leftover("network", n["Id"], n["Name"])
                  for n in client.api.networks(filters=label)]
        volumes = client.api.volumes(filters=label).get("Volumes") or []
        found += [Leftover("volume", v["Name"], v["Name"]) for v in volumes]
    return found


def existing_images(client: docker.DockerClient, image_ids: Iterable[str]) -> list[Leftover]:
    """Those of `image_ids` (untagged build stages, which carry no label) still present."""
    found = []
    for image_id in sorted(set(image_ids)):
        with translate_errors(f"inspect image {image_id}"):
            try:
                client.api.inspect_image(image_id)
            except docker.errors.ImageNotFound:
                continue
        found.append(Leftover("image", image_id, image_id))
    return found


def remove_leftover(client: docker.DockerClient, leftover: Leftover) -> str | None:
    """Remove one; None when it is gone (or was already), else the engine's reason."""
    api = client.api
    try:
        with translate_errors(f"remove {leftover}"):
            try:
                if leftover.kind == "container":
                    api.remove_container(leftover.ref, v=True, force=True)
                elif leftover.kind == "image":
                    api.remove_image(leftover.ref, force=True)
                elif leftover.kind == "network":
                    api.remove_network(leftover.ref)
                else:
                    api.remove_volume(leftover.ref, force=True)
            except docker.errors.NotFound:
                return None
    except EngineUnavailable:
        raise
    except EngineError as exc:
        return str(exc)
    return None
