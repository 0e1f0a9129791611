"""Base images without a registry, and the choice of base image per deploy.

No registry is reachable here, so :func:`bootstrap_base_images` makes the bases locally:

* ``hostd/busybox:1``      FROM scratch + the host's static busybox (no template uses it
                           any more; tests, benches and repositories' own Dockerfiles do)
* ``hostd/debian:bookworm`` debootstrap ``--variant=minbase`` imported as an image
* ``hostd/nginx:1-<digest>`` hostd/debian + apt nginx-light and hostd's site config
                           (see ``nginx.py``): serves the static and react templates
* ``hostd/python:3.11``    hostd/debian + apt python3, pip, venv, ca-certificates
* ``hostd/node:22``, ``hostd/node:24`` hostd/debian + apt ca-certificates + the official
                           Node.js Linux x64 build and npm, both from the npm registry
                           (``node_dist.py``: newest release of the line, sha512 integrity
                           checked, cached for offline rebuilds). Labelled with the exact
                           versions; a tag already holding the registry's newest is kept.

:func:`resolve_base_images` prefers the official ``python:3.12-slim`` when an operator
has loaded it, else the local ones, else raises ImageMissing naming ``hostd images
bootstrap``. The nginx and node roles are always ours (see :data:`OFFICIAL_IMAGES`); the
node line is the project's (``engines.node``, ``.nvmrc``: :func:`node_base_for`), the
newest by default.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import docker

from hostd.engine.builds import build_image
from hostd.engine.checkout import Checkout
from hostd.engine.client import BuildFailed, ImageMissing, translate_errors
from hostd.engine.containers import image_exists, image_labels
from hostd.engine.nginx import CONF_DIR, NGINX_IMAGE, START_SCRIPT, image_files
from hostd.engine.node_dist import DEFAULT_CACHE_DIR, DOCKERFILE_LINES, fill_context, resolve_dist
from hostd.engine.node_versions import (
    DEFAULT_NODE_LINE,
    NODE_LINES,
    choose_line,
    node_image,
    requested_range,
)
from hostd.engine.templates import CA_FILENAME, CA_PATH, PORT, BaseImages
from hostd.templates import TEMPLATE_BASES

BUSYBOX_IMAGE = "hostd/busybox:1"
DEBIAN_IMAGE = "hostd/debian:bookworm"
PYTHON_IMAGE = "hostd/python:3.11"
NODE_IMAGES = tuple(node_image(line) for line in NODE_LINES)
NODE_IMAGE = node_image(DEFAULT_NODE_LINE)
NODE_VERSION_LABEL = "hostd.node.version"
NPM_VERSION_LABEL = "hostd.npm.version"
LOCAL_IMAGES: dict[str, str] = {"python": PYTHON_IMAGE, "node": NODE_IMAGE,
                                "nginx": NGINX_IMAGE}
# No official nginx: nginx:stable would run the same nginx.conf (same mime.types path,
# /bin/sh, `nginx -e`), but hostd's config and start script live in hostd/nginx, not in
# the template, so FROM nginx:stable a site would have neither and not start. Its
# /docker-entrypoint.sh would also sit in front of every site. Ours builds in seconds
# from the Debian mirror, so there is nothing to gain from preferring it.
# No official node either: a project's line is chosen among hostd's own node bases, whose
# exact versions (and verified origin) their labels say.
OFFICIAL_IMAGES: dict[str, str] = {"python": "python:3.12-slim"}
BOOTSTRAP_COMMAND = "hostd images bootstrap"
BASE_LABEL = "hostd.base"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bookworm"
HOST_BUSYBOX = Path("/bin/busybox")
BOOTSTRAP_MEMORY_BYTES = 2 * 1024**3
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Log = Callable[[str], None]


def bootstrap_base_images(
    client: docker.DockerClient,
    log: Log,
    build_ca_bundle: Path | None = None,
    *,
    mirror: str = DEBIAN_MIRROR,
    busybox_binary: Path = HOST_BUSYBOX,
    node_cache: Path = DEFAULT_CACHE_DIR,
) -> list[str]:
    """Build every missing hostd base image; return the tags built now (empty: all there).

    Idempotent: an image already in the engine is skipped (a node base: when it holds the
    registry's newest release of its line, or the registry is unreachable). Needs root and
    ``debootstrap`` for the Debian image, and Debian's ``busybox-static`` (see
    scripts/ensure-docker). ``build_ca_bundle`` is given to apt inside the builds for an
    https ``mirror``, and verifies the npm registry's TLS; node and npm tarballs are kept
    in ``node_cache``. Takes minutes the first time (dpkg on a small machine); raises
    BuildFailed (IntegrityMismatch for a tarball that is not the registry's).
    """
    steps: list[tuple[str, Callable[[], None]]] = [
        (BUSYBOX_IMAGE, lambda: _build_busybox(client, log, busybox_binary)),
        (DEBIAN_IMAGE, lambda: _import_debian(client, log, mirror)),
        (NGINX_IMAGE, lambda: _build_nginx(client, log, build_ca_bundle)),
        (PYTHON_IMAGE, lambda: _build_on_debian(
            client, log, PYTHON_IMAGE, ["python3", "python3-pip", "python3-venv"],
            build_ca_bundle)),
    ]
    built = []
    for tag, make in steps:
        if image_exists(client, tag):
            log(f"{tag}: present, skipped")
            continue
        log(f"{tag}: building")
        started = time.monotonic()
        make()
        log(f"{tag}: built in {time.monotonic() - started:.1f}s")
        built.append(tag)
    for line in NODE_LINES:
        if _ensure_node(client, log, line, build_ca_bundle, node_cache):
            built.append(node_image(line))
    return built


def resolve_base_images(
    client: docker.DockerClient,
    log: Log | None = None,
    needed: Iterable[str] | None = None,
) -> BaseImages:
    """Choose, per role (python, node, nginx), the official image if present, else ours.

    ``needed`` lists the roles that must exist (default: all); a missing needed role
    raises ImageMissing with the command that makes it. Roles not needed and absent get
    the local tag, unchecked. Logs each choice.
    """
    required = set(LOCAL_IMAGES if needed is None else needed)
    chosen: dict[str, str] = {}
    for role, local in LOCAL_IMAGES.items():
        official = OFFICIAL_IMAGES.get(role)
        if official is not None and image_exists(client, official):
            chosen[role] = official
        elif role not in required or image_exists(client, local):
            chosen[role] = local
        else:
            raise ImageMissing(local, BOOTSTRAP_COMMAND)
        if log is not None and role in required:
            log(f"base image for {role}: {chosen[role]}")
    return BaseImages(python=chosen["python"], node=chosen["node"], nginx=chosen["nginx"])


def base_image_for(template: str, bases: BaseImages) -> str:
    """The image a template's final (runtime) stage starts FROM."""
    roles = TEMPLATE_BASES[template]
    return str(bases[roles[-1]])  # type: ignore[literal-required]


def node_lines_available(client: docker.DockerClient) -> dict[int, str]:
    """Line -> exact node version, for the node bases in the engine."""
    found = {}
    for line in NODE_LINES:
        version = image_labels(client, node_image(line)).get(NODE_VERSION_LABEL)
        if version:
            found[line] = version
    return found


def node_base_for(client: docker.DockerClient, repo: Checkout, log: Log | None = None) -> str:
    """The node base for a project: the newest line its range accepts (raises NoNodeLine,
    or UnsafeCheckout for a linked package.json / .nvmrc)."""
    requested = requested_range(repo)
    where, wanted = requested if requested else ("", None)
    line = choose_line(wanted, node_lines_available(client), where)
    if log is not None:
        said = f" ({where}: {wanted})" if requested else " (the default: newest)"
        log(f"node line {line}{said}: {node_image(line)}")
    return node_image(line)


# --- the recipes ------------------------------------------------------------------------


def _build_busybox(client: docker.DockerClient, log: Log, binary: Path) -> None:
    if not _is_static_elf(binary):
        raise BuildFailed(
            f"{binary} is missing or not statically linked: apt-get install busybox-static",
            [], oom=False)
    dockerfile = "\n".join([
        "FROM scratch",
        "COPY busybox /bin/busybox",
        # No shell exists before --install: exec form, busybox's own sh.
        'RUN ["/bin/busybox", "sh", "-c", '
        '"/bin/busybox --install -s /bin && mkdir -p /www /tmp && chmod 1777 /tmp"]',
        f"ENV PATH={DEBIAN_PATH}",
        'CMD ["sh"]',
    ]) + "\n"
    with tempfile.TemporaryDirectory(prefix="hostd-busybox-") as tmp:
        shutil.copy2(binary, Path(tmp) / "busybox")
        build_image(client, Path(tmp), dockerfile, BUSYBOX_IMAGE, {BASE_LABEL: "1"},
                    BOOTSTRAP_MEMORY_BYTES, log)


def _import_debian(client: docker.DockerClient, log: Log, mirror: str) -> None:
    # /var/tmp, not /tmp: a tmpfs /tmp may be mounted nodev and too small for a rootfs.
    work = Path(tempfile.mkdtemp(prefix="hostd-debootstrap-", dir="/var/tmp"))
    try:
        rootfs = work / "rootfs"
        _run_logged(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), mirror],
                    log, f"debootstrap of {DEBIAN_SUITE}")
        _trim_rootfs(rootfs)
        tarball = work / "rootfs.tar"
        _run_logged(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
                    log, "tar of the Debian rootfs")
        repository, tag = DEBIAN_IMAGE.split(":")
        with translate_errors(f"import {DEBIAN_IMAGE}"):
            client.api.import_image(
                src=str(tarball), repository=repository, tag=tag,
                changes=[f"ENV PATH={DEBIAN_PATH}", f"LABEL {BASE_LABEL}=1", 'CMD ["bash"]'],
            )
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _ensure_node(client: docker.DockerClient, log: Log, line: int,
                 ca_bundle: Path | None, cache: Path) -> bool:
    """Build ``hostd/node:<line>`` unless it holds the newest release; True when built."""
    tag = node_image(line)
    have = image_labels(client, tag).get(NODE_VERSION_LABEL) if image_exists(client, tag) \
        else None
    started = time.monotonic()
    dist = resolve_dist(line, cache, ca_bundle, log, have)
    if dist is None:
        log(f"{tag}: node {have} present, skipped")
        return False
    log(f"{tag}: building node {dist.node.version}, npm {dist.npm.version}"
        + (f" (replacing node {have})" if have else ""))
    labels = {BASE_LABEL: "1", NODE_VERSION_LABEL: dist.node.version,
              NPM_VERSION_LABEL: dist.npm.version}
    _build_on_debian(client, log, tag, [], ca_bundle, labels=labels,
                     populate=lambda directory: fill_context(dist, directory),
                     extra_lines=DOCKERFILE_LINES)
    log(f"{tag}: built in {time.monotonic() - started:.1f}s")
    return True


def _trim_rootfs(rootfs: Path) -> None:
    # The downloaded .debs and package lists are ~80 MB of the ~200; every build on top
    # runs `apt-get update` first anyway.
    for cache in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
        for entry in cache.glob("*"):
            if entry.is_file():
                entry.unlink()


def _build_on_debian(
    client: docker.DockerClient, log: Log, tag: str, packages: list[str],
    ca_bundle: Path | None, *, files: dict[str, str] | None = None,
    extra_lines: list[str] | None = None, labels: dict[str, str] | None = None,
    populate: Callable[[Path], None] | None = None,
) -> None:
    """hostd/debian + apt ``packages``; ``files`` (or what ``populate`` writes into the
    context directory) are there for ``extra_lines``."""
    apt_opts = f"-o Acquire::https::CAInfo={CA_PATH} " if ca_bundle else ""
    lines = [f"FROM {DEBIAN_IMAGE}", "ENV DEBIAN_FRONTEND=noninteractive"]
    if ca_bundle:
        lines.append(f"COPY {CA_FILENAME} {CA_PATH}")
    lines.append(
        f"RUN apt-get {apt_opts}update"
        f" && apt-get {apt_opts}install -y --no-install-recommends"
        f" {' '.join(packages)} ca-certificates"
        " && apt-get clean && rm -rf /var/lib/apt/lists/*")
    lines.extend(extra_lines or [])
    # /var/tmp: node's context is ~120 MB, too big for a small tmpfs /tmp.
    with tempfile.TemporaryDirectory(prefix="hostd-base-", dir="/var/tmp") as tmp:
        if populate is not None:
            populate(Path(tmp))
        if ca_bundle:
            shutil.copyfile(ca_bundle, Path(tmp) / CA_FILENAME)
        for name, text in (files or {}).items():
            (Path(tmp) / name).write_text(text)
        build_image(client, Path(tmp), "\n".join(lines) + "\n", tag,
                    labels or {BASE_LABEL: "1"}, BOOTSTRAP_MEMORY_BYTES, log)


def _build_nginx(client: docker.DockerClient, log: Log, ca_bundle: Path | None) -> None:
    # Debian's packaging leaves a default site and root-owned /var/lib/nginx; hostd's
    # config (-c) points everything at /tmp instead, so neither is touched at runtime.
    files = image_files()
    configs = " ".join(name for name in files if name.endswith(".conf"))
    _build_on_debian(client, log, NGINX_IMAGE, ["nginx-light"], ca_bundle, files=files,
                     extra_lines=[
                         f"COPY {configs} {CONF_DIR}/",
                         f"COPY hostd-nginx {START_SCRIPT}",
                         f"RUN chmod 0755 {START_SCRIPT} && mkdir -p /www",
                         # nginx's graceful stop: in-flight requests finish (TERM: fast).
                         "STOPSIGNAL SIGQUIT",
                         f"ENV PORT={PORT}",
                         f"EXPOSE {PORT}",
                         'CMD ["hostd-nginx", "static"]',
                     ])


# --- helpers ------------------------------------------------------------------------------


def _run_logged(argv: list[str], log: Log, what: str) -> None:
    """Run ``argv`` streaming its output to ``log``; BuildFailed with the tail on failure."""
    tail: deque[str] = deque(maxlen=30)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
    except FileNotFoundError as exc:
        raise BuildFailed(f"{what} failed: {argv[0]} is not installed "
                          "(run scripts/ensure-docker)", []) from exc
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            log(line.rstrip())
    if proc.returncode != 0:
        raise BuildFailed(f"{what} failed with exit code {proc.returncode}", list(tail))


def _is_static_elf(path: Path) -> bool:
    """True for an ELF file with no PT_INTERP program header (no dynamic loader needed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only: what Debian ships here
        return False
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[32:40], order)
    phentsize = int.from_bytes(data[54:56], order)
    phnum = int.from_bytes(data[56:58], order)
    for index in range(phnum):
        start = phoff + index * phentsize
        if int.from_bytes(data[start:start + 4], order) == 3:  # PT_INTERP
            return False
    return True


def _unmount_below(directory: Path) -> None:
    # A failed debootstrap can leave proc/sys mounted in the target; never rmtree into them.
    prefix = str(directory.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)
