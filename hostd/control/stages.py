"""The images a multi-stage build leaves behind, kept for one deploy and then removed.

The classic builder keeps each earlier stage's last step as an untagged image (a `react`
build's node_modules and build output; the same for a repository's own multi-stage
Dockerfile). It is the layer cache that makes the next deploy of the same project quick,
but nothing else refers to it: without bookkeeping every redeploy leaks one. So the ids
of a build's leftovers are recorded in the project's build directory; when a deploy
succeeds, the leftovers of earlier builds go (the newest build's stay, as its cache), and
deleting the project removes them all. An image another build has meanwhile built on is
refused by the engine (it has children) and stays; that is fine: it is in use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from hostd.control.runtime import EngineError, EngineUnavailable, Runtime

log = logging.getLogger("hostd.deploy")
RECORD = "stage-images"


def record(build_dir: Path, ids: Iterable[str]) -> None:
    """Add `ids` to the project's record (a failed build's leftovers are kept too)."""
    known = read(build_dir)
    new = [i for i in ids if i not in known]
    if new:
        build_dir.mkdir(parents=True, exist_ok=True)
        with (build_dir / RECORD).open("a") as out:
            out.writelines(f"{i}\n" for i in new)


def read(build_dir: Path) -> list[str]:
    try:
        return (build_dir / RECORD).read_text().split()
    except FileNotFoundError:
        return []


def remove_all_but(runtime: Runtime, build_dir: Path, keep: Iterable[str]) -> None:
    """Remove the recorded leftovers except `keep`; the record then holds what stays."""
    recorded = read(build_dir)
    if not recorded:
        return
    kept = set(keep)
    stays = [i for i in recorded if i in kept or not _remove(runtime, i)]
    (build_dir / RECORD).write_text("".join(f"{i}\n" for i in stays))


def _remove(runtime: Runtime, image: str) -> bool:
    """True when the image is gone (removed now, or already)."""
    try:
        runtime.remove_image(image, force=False)
    except EngineUnavailable:
        return False
    except EngineError as exc:  # in use: another build started on it meanwhile
        log.info("kept build stage image %s: %s", image[:19], exc)
        return False
    return True
