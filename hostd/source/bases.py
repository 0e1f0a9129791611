"""hostd's base images: their names, what each is made from, and which are current.

Pure data (no docker): :mod:`hostd.engine.images` builds them, the Dockerfile policy
allows their repositories, ``hostd images prune`` removes the tags that are no longer
current. All but busybox are built on one Debian release, :data:`DEBIAN_SUITE`:

* ``hostd/busybox:1``        the host's static busybox, FROM scratch
* ``hostd/debian:trixie``    ``debootstrap --variant=minbase trixie`` (Debian 13)
* ``hostd/python:3.13``      Debian's python3 (3.13 in trixie), pip, venv
* ``hostd/nginx:1-<digest>`` Debian's nginx + hostd's site config; the digest covers the
                             config files, the package and the suite, so a change to any
                             of them names a new image (bootstrap skips present tags)
* ``hostd/node:22``, ``:24`` the official Node.js builds from the npm registry on
                             hostd/debian; rebuilt when a newer release of the line is out
                             or the image is on another suite (:data:`SUITE_LABEL`)

Every base carries :data:`BASE_LABEL`; those on Debian carry :data:`SUITE_LABEL` too.
Images built FROM a base inherit both, so a label alone never says "this is a base": a
tag in one of :data:`BASE_REPOSITORIES` does.
"""

from __future__ import annotations

from hostd.source.nginx import digest as nginx_digest
from hostd.source.node_versions import DEFAULT_NODE_LINE, NODE_LINES, NODE_REPOSITORY, node_image

BASE_LABEL = "hostd.base"
SUITE_LABEL = "hostd.debian.suite"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "trixie"
# What Debian's python3 is in DEBIAN_SUITE: the recipe checks it, so the tag never lies.
PYTHON_VERSION = "3.13"
PYTHON_PACKAGES = ("python3", "python3-pip", "python3-venv")
# trixie has no nginx-light (nor -core/-full/-extras): `nginx` is the server, with the
# modules hostd's config uses built in; the optional ones are libnginx-mod-* packages.
NGINX_PACKAGE = "nginx"

BUSYBOX_IMAGE = "hostd/busybox:1"
DEBIAN_IMAGE = f"hostd/debian:{DEBIAN_SUITE}"
PYTHON_IMAGE = f"hostd/python:{PYTHON_VERSION}"
NGINX_IMAGE = f"hostd/nginx:1-{nginx_digest(f'{DEBIAN_SUITE} {NGINX_PACKAGE}')}"
NODE_IMAGES = tuple(node_image(line) for line in NODE_LINES)
NODE_IMAGE = node_image(DEFAULT_NODE_LINE)

CURRENT_BASES: frozenset[str] = frozenset(
    {BUSYBOX_IMAGE, DEBIAN_IMAGE, PYTHON_IMAGE, NGINX_IMAGE, *NODE_IMAGES})
BASE_REPOSITORIES: tuple[str, ...] = (
    "hostd/busybox", "hostd/debian", "hostd/nginx", "hostd/python", NODE_REPOSITORY)
