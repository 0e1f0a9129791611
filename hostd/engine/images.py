"""Base images without a registry, and the choice of base image per deploy.

No registry is reachable here, so :func:`bootstrap_base_images` makes the bases locally
(their names and recipes' ingredients: ``bases.py``): busybox from the host, a Debian
minbase (``debootstrap`` of :data:`~hostd.source.bases.DEBIAN_SUITE`) imported as an
image, and on it nginx (hostd's site config, ``nginx.py``), Python and the official
Node.js builds with npm from the npm registry (``node_dist.py``: newest release of the
line, sha512 integrity checked, cached for offline rebuilds). A node base is labelled with
its exact versions and suite; a tag already holding the registry's newest on this suite is
kept, and one that is replaced keeps its image under ``hostd/node:<version>-<id>`` until
``hostd images prune`` (``base_prune.py``) finds nothing built on it.

:func:`resolve_base_images` prefers the official ``python:3.13-slim`` when an operator
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
from hostd.engine.client import BuildFailed, ImageMissing, translate_errors
from hostd.engine.containers import image_exists, image_labels, inspect_image
from hostd.engine.node_dist import (
    DEFAULT_CACHE_DIR,
    DOCKERFILE_LINES,
    NothingCached,
    fill_context,
    resolve_dist,
)
from hostd.source.bases import (
    BASE_LABEL,
    BUSYBOX_IMAGE,
    DEBIAN_IMAGE,
    DEBIAN_MIRROR,
    DEBIAN_SUITE,
    NGINX_IMAGE,
    NGINX_PACKAGE,
    NODE_IMAGE,
    PYTHON_IMAGE,
    PYTHON_PACKAGES,
    PYTHON_VERSION,
    SUITE_LABEL,
)
from hostd.source.checkout import Checkout
from hostd.source.nginx import CONF_DIR, START_SCRIPT, image_files
from hostd.source.node_versions import NODE_LINES, choose_line, node_image, requested_range
from hostd.source.templates import CA_FILENAME, CA_PATH, PORT, BaseImages
from hostd.templates import TEMPLATE_BASES

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
OFFICIAL_IMAGES: dict[str, str] = {"python": f"python:{PYTHON_VERSION}-slim"}
BOOTSTRAP_COMMAND = "hostd images bootstrap"
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
            client, log, PYTHON_IMAGE, list(PYTHON_PACKAGES), build_ca_bundle,
            extra_lines=[_python_check()])),
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
                changes=[f"ENV PATH={DEBIAN_PATH}", f"LABEL {BASE_LABEL}=1",
                         f"LABEL {SUITE_LABEL}={DEBIAN_SUITE}", 'CMD ["bash"]'],
            )
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _ensure_node(client: docker.DockerClient, log: Log, line: int,
                 ca_bundle: Path | None, cache: Path) -> bool:
    """Build ``hostd/node:<line>`` unless it holds the newest release; True when built."""
    tag = node_image(line)
    old = inspect_image(client, tag) or {}
    labels = dict((old.get("Config") or {}).get("Labels") or {})
    have = labels.get(NODE_VERSION_LABEL)
    on_suite = labels.get(SUITE_LABEL) == DEBIAN_SUITE
    started = time.monotonic()
    # A base on another suite is rebuilt whatever its version: `have` only when on ours.
    try:
        dist = resolve_dist(line, cache, ca_bundle, log, have if on_suite else None)
    except NothingCached:
        if not have:
            raise
        log(f"{tag}: node {have} kept on its older suite: offline, and nothing cached to "
            f"rebuild it on {DEBIAN_SUITE}")
        return False
    if dist is None:
        log(f"{tag}: node {have} present, skipped")
        return False
    log(f"{tag}: building node {dist.node.version}, npm {dist.npm.version} on "
        f"{DEBIAN_SUITE}" + (f" (replacing node {have} on "
                             f"{labels.get(SUITE_LABEL, 'an older suite')})" if have else ""))
    new_labels = {BASE_LABEL: "1", SUITE_LABEL: DEBIAN_SUITE,
                  NODE_VERSION_LABEL: dist.node.version, NPM_VERSION_LABEL: dist.npm.version}
    _build_on_debian(client, log, tag, [], ca_bundle, labels=new_labels,
                     populate=lambda directory: fill_context(dist, directory),
                     extra_lines=DOCKERFILE_LINES)
    if have:
        _keep_replaced(client, log, tag, str(old["Id"]), have)
    log(f"{tag}: built in {time.monotonic() - started:.1f}s")
    return True


def _keep_replaced(client: docker.DockerClient, log: Log, tag: str, old_id: str,
                   version: str) -> None:
    """The image ``tag`` named before a rebuild moved it, still tagged: a base left
    untagged would look like any build stage, and prune finds bases by their tags."""
    if (inspect_image(client, tag) or {}).get("Id") == old_id:
        return  # the same image again (the layer cache): nothing was replaced
    keep = f"{tag.rsplit(':', 1)[0]}:{version}-{old_id.removeprefix('sha256:')[:12]}"
    with translate_errors(f"tag the replaced {tag}"):
        client.api.tag(old_id, *keep.rsplit(":", 1))
    log(f"{tag}: the image it replaced is {keep} until `hostd images prune`")


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
                    labels or {BASE_LABEL: "1", SUITE_LABEL: DEBIAN_SUITE},
                    BOOTSTRAP_MEMORY_BYTES, log)


def _python_check() -> str:
    # The tag names a Python version: a suite whose python3 is another must fail here.
    wanted = tuple(int(part) for part in PYTHON_VERSION.split("."))
    return (f"RUN python3 -c 'import sys; assert sys.version_info[:2] == {wanted}, "
            "sys.version'")


def _build_nginx(client: docker.DockerClient, log: Log, ca_bundle: Path | None) -> None:
    # Debian's packaging leaves a default site and root-owned /var/lib/nginx; hostd's
    # config (-c) points everything at /tmp instead, so neither is touched at runtime.
    files = image_files()
    configs = " ".join(name for name in files if name.endswith(".conf"))
    _build_on_debian(client, log, NGINX_IMAGE, [NGINX_PACKAGE], ca_bundle, files=files,
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
