"""Removing hostd's old base images: the tags of its base repositories that are not
current (``bases.CURRENT_BASES``) and that nothing in use is built on.

"Built on" is read from the layers: an image built FROM a base starts with all of the
base's layers (``RootFS.Layers``), through any number of bases between (a flask image
on ``hostd/python:3.11`` is built on ``hostd/debian:bookworm`` too). In use:

* the images the caller names (the images of every project's kept releases),
* every project image on the engine, whichever install built it (another install's
  releases are not in this database, so all of its images count),
* the image of every container, running or not.

Only tags are removed, never by force: an old base another base still stands on loses its
tag and stays as that one's parent until it goes too; the engine removes the layers
when the last tag over them goes. A removal the engine refuses is reported, not raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field

import docker
import docker.errors

from hostd.engine.client import EngineError, EngineUnavailable, translate_errors
from hostd.engine.containers import inspect_image
from hostd.naming import PROJECT_LABEL
from hostd.source.bases import BASE_LABEL, BASE_REPOSITORIES, CURRENT_BASES

Log = Callable[[str], None]


@dataclass
class PruneOutcome:
    """What a prune removed (or, dry, would remove) and what it kept, with why."""

    removed: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def prune_base_images(
    client: docker.DockerClient,
    in_use: Iterable[str],
    log: Log,
    *,
    dry_run: bool = False,
    current: Set[str] = CURRENT_BASES,
    repositories: Iterable[str] = BASE_REPOSITORIES,
) -> PruneOutcome:
    """Remove every old base tag (in ``repositories``, not in ``current``) that no image
    of ``in_use``, no project image and no container's image is built on."""
    outcome = PruneOutcome()
    candidates = old_base_tags(client, current, repositories)
    if not candidates:
        log("no old base images")
        return outcome
    users = _users(client, in_use)
    for tag, layers in sorted(candidates.items()):
        user = next((name for name, theirs in users if theirs[:len(layers)] == layers), None)
        if user is not None:
            outcome.kept[tag] = f"{user} is built on it"
            log(f"{tag}: kept, {outcome.kept[tag]}")
        elif dry_run:
            outcome.removed.append(tag)
            log(f"{tag}: would be removed")
        else:
            _remove(client, tag, outcome, log)
    return outcome


def old_base_tags(client: docker.DockerClient, current: Set[str],
                  repositories: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Tag -> its layers, for each tag of a base repository that is not current."""
    wanted = set(repositories)
    with translate_errors("list base images"):
        images = client.api.images(filters={"label": BASE_LABEL})
    found = {}
    for image in images:
        for tag in image.get("RepoTags") or ():
            if tag.rsplit(":", 1)[0] in wanted and tag not in current:
                found[tag] = _layers(client, tag)
    return {tag: layers for tag, layers in found.items() if layers}


def _users(client: docker.DockerClient,
           in_use: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(name, layers) of everything that holds a base: named images, project images,
    containers' images. A name the engine does not have holds nothing."""
    with translate_errors("list project images and containers"):
        projects = client.api.images(filters={"label": PROJECT_LABEL})
        containers = client.api.containers(all=True)
    named = [(f"the release image {name}", name) for name in sorted(set(in_use))]
    named += [(f"the project image {(image.get('RepoTags') or [image['Id']])[0]}",
               image["Id"]) for image in projects]
    named += [(f"the container {(container.get('Names') or [container['Id']])[0]}",
               container["ImageID"]) for container in containers]
    users = []
    for who, ref in named:
        layers = _layers(client, ref)
        if layers:
            users.append((who, layers))
    return users


def _layers(client: docker.DockerClient, ref: str) -> tuple[str, ...]:
    attrs = inspect_image(client, ref) or {}
    return tuple((attrs.get("RootFS") or {}).get("Layers") or ())


def _remove(client: docker.DockerClient, tag: str, outcome: PruneOutcome, log: Log) -> None:
    try:
        with translate_errors(f"remove {tag}"):
            client.api.remove_image(tag)
    except EngineUnavailable:
        raise
    except EngineError as exc:  # the engine's refusal (a conflict): reported, not raised
        outcome.failed[tag] = str(exc)
        log(f"{tag}: not removed: {exc}")
        return
    outcome.removed.append(tag)
    log(f"{tag}: removed")
