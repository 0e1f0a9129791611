"""Dockerfiles for the project templates: pure functions of a repository directory.

A template turns a checked-out repository into a Dockerfile for the classic builder (the
engine here has no BuildKit: no ``--mount``, no heredocs). Every app listens on ``$PORT``
(8000) inside its container. A repository's own ``Dockerfile`` always wins.

The repository is hostile: it is only looked at through a
:class:`~hostd.source.checkout.Checkout` (no link is followed, files read are regular and
size-capped) and nothing is written into it.

Build-time TLS: downloads inside a build (pip, npm) may pass through a TLS-intercepting
proxy whose CA only the host trusts. :func:`prepare_build_context` puts a PEM bundle in
the context as ``hostd-ca.pem`` (an in-memory member); the generated Dockerfiles install it at
:data:`CA_PATH` and point pip, requests, OpenSSL and node at it, in the build and in the
running image. The bundle replaces the default trust store for pip/requests/OpenSSL, so
it must be a *full* bundle (the host's ``/etc/ssl/certs/ca-certificates.crt`` is).
Limitation: a repository's own Dockerfile cannot be changed, so it only gets the file in
its context; it must ``COPY hostd-ca.pem`` itself to use it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from hostd.source.bases import NGINX_IMAGE, NODE_IMAGE, PYTHON_IMAGE
from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.source.procfile import WEB
from hostd.source.procfile import read as read_procfile
from hostd.source.pyapp import (
    DATA_DIR,
    GUNICORN,
    SHIM_DIR,
    WSGI_SHIM,
    WSGI_SHIM_NAME,
    cmd_line,
    install_lines,
    instance_link,
)
from hostd.templates import TEMPLATE_BASES, TEMPLATE_NAMES

PORT = 8000
CA_FILENAME = "hostd-ca.pem"
CA_PATH = "/etc/ssl/hostd-ca.pem"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
NOBODY = "65534:65534"
# TEMPLATE_BASES (what each template needs from resolve_base_images()) is hostd.templates's,
# the one list of the templates; a renderer and a `show_template` example per name are below.
STATIC_DIRS = ("public", "dist", "build")
# Templates whose image serves with hostd/nginx, made to write nothing but /tmp
# (hostd.source.nginx): their containers get a read-only root filesystem.
READ_ONLY_TEMPLATES = ("static", "react")


class BaseImages(TypedDict):
    """Image references per role, as chosen by ``images.resolve_base_images``."""

    python: str
    node: str
    nginx: str


@dataclass(frozen=True)
class BuildPlan:
    """What to build: the Dockerfile text (the repository's own as read, or rendered)
    and the files hostd adds to the context beside the repository's (the CA bundle)."""

    template: str
    dockerfile: str
    uses_repo_dockerfile: bool
    extra: dict[str, bytes] = field(default_factory=dict)

    @property
    def read_only_rootfs(self) -> bool:
        """The image can run on a read-only root (a repository's own Dockerfile: unknown)."""
        return not self.uses_repo_dockerfile and self.template in READ_ONLY_TEMPLATES


class UnknownTemplate(ValueError):
    """The template name is not one of :func:`template_names`."""


def template_names() -> list[str]:
    return list(TEMPLATE_NAMES)


def default_build_ca_bundle() -> Path | None:
    """The host's CA bundle when it exists: the default for HOSTD_BUILD_CA_BUNDLE."""
    return HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None


def has_own_dockerfile(repo: Checkout) -> bool:
    """True when the repository has a Dockerfile; raises UnsafeCheckout when that name is
    a link or not a regular file (it would be built from, so it must be readable)."""
    kind = repo.kind("Dockerfile")
    if kind in (None, "dir"):
        return False
    if kind != "file":
        raise UnsafeCheckout("Dockerfile in the repository is a symbolic link or not a "
                             "regular file: hostd reads only regular files")
    return True


def render_dockerfile(
    template: str, source: Checkout | Path, bases: BaseImages, *, with_ca: bool = False
) -> str | None:
    """The Dockerfile for ``template`` built from ``source``; None when the repo has one.

    ``with_ca`` adds the CA bundle lines; the context must then hold ``hostd-ca.pem``
    (see :func:`prepare_build_context`). Raises UnknownTemplate, UnsafeCheckout.
    """
    if template not in TEMPLATE_BASES:
        raise UnknownTemplate(f"unknown template {template!r}; one of {template_names()}")
    repo = source if isinstance(source, Checkout) else Checkout(source)
    if has_own_dockerfile(repo):
        return None
    renderers = {
        "static": _static,
        "react": _react,
        "flask": _flask,
        "nodejs": _nodejs,
    }
    return renderers[template](repo, bases, with_ca)


def prepare_build_context(
    template: str, source: Checkout | Path, bases: BaseImages, ca_bundle: Path | None
) -> BuildPlan:
    """The Dockerfile to build (rendered, or the repository's own as read) and the CA
    bundle (the operator's file, when given) as a context member. Writes nothing."""
    repo = source if isinstance(source, Checkout) else Checkout(source)
    extra = {CA_FILENAME: ca_bundle.read_bytes()} if ca_bundle is not None else {}
    rendered = render_dockerfile(template, repo, bases, with_ca=ca_bundle is not None)
    if rendered is not None:
        if template == "flask":
            extra[WSGI_SHIM_NAME] = WSGI_SHIM
        return BuildPlan(template, rendered, uses_repo_dockerfile=False, extra=extra)
    own = repo.read_text("Dockerfile") or ""
    return BuildPlan(template, own, uses_repo_dockerfile=True, extra=extra)


def show_template(name: str, bases: BaseImages | None = None) -> str:
    """The Dockerfile ``name`` renders for a typical small repository (for the CLI)."""
    bases = bases or BaseImages(python=PYTHON_IMAGE, node=NODE_IMAGE, nginx=NGINX_IMAGE)
    typical = {
        "static": {"public/index.html": "<h1>hi</h1>\n"},
        "react": {"package.json": '{"scripts": {"build": "vite build"}}\n',
                  "package-lock.json": "{}\n"},
        "flask": {"app.py": "", "requirements.txt": "flask\ngunicorn\n"},
        "nodejs": {"package.json": '{"scripts": {"start": "node server.js"}}\n'},
    }
    if name not in typical:
        raise UnknownTemplate(f"unknown template {name!r}; one of {template_names()}")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        for rel, text in typical[name].items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        dockerfile = render_dockerfile(name, repo, bases, with_ca=True)
    assert dockerfile is not None
    return dockerfile


# --- pieces shared by the templates -------------------------------------------------


def _ca_lines(with_ca: bool) -> list[str]:
    if not with_ca:
        return []
    return [
        f"COPY {CA_FILENAME} {CA_PATH}",
        f"ENV PIP_CERT={CA_PATH} REQUESTS_CA_BUNDLE={CA_PATH} SSL_CERT_FILE={CA_PATH} \\",
        f"    NODE_EXTRA_CA_CERTS={CA_PATH} npm_config_cafile={CA_PATH}",
    ]


def _data_lines(app_dir: bool = False, then: str | None = None) -> list[str]:
    """/data (the project's volume is mounted there; a new volume takes this owner) and
    with ``app_dir`` the working directory /app, both the app user's (/app takes new
    files, not persistent), then the command ``then``. Right after FROM: it depends on
    nothing the repository changes, so the layer cache keeps it and a deploy starts no
    build container for it (each one is 0.5-1 s of a deploy). COPY into /app later
    leaves the directory's owner as it is."""
    dirs = f"{DATA_DIR} /app" if app_dir else DATA_DIR
    command = f"mkdir -p {dirs} && chown {NOBODY} {dirs}" + (f" && {then}" if then else "")
    return [f"RUN {command}"]


def _runtime_lines(cmd: str, repo: Checkout) -> list[str]:
    # Through sh so $PORT expands; a Procfile's `web:` replaces the template's command.
    procfile = read_procfile(repo)
    web = procfile.processes.get(WEB) if procfile else None
    return [
        f"ENV PORT={PORT}",
        f"EXPOSE {PORT}",
        f"USER {NOBODY}",
        cmd_line(web, exec_it=False) if web else cmd_line(cmd),
    ]


def _nginx_site(repo: Checkout, bases: BaseImages, with_ca: bool, copy: list[str],
                mode: str) -> list[str]:
    # hostd/nginx carries the config; `hostd-nginx MODE` renders $PORT and execs nginx
    # (mode `static`: 404 for a missing file; `spa`: index.html for client-side routes).
    # The site's files last: they change most often, the layers above stay cached.
    return [
        f"FROM {bases['nginx']}",
        *_data_lines(),
        *_ca_lines(with_ca),
        *copy,
        *_runtime_lines(f"hostd-nginx {mode}", repo),
    ]


def _npm_install(repo: Checkout, omit_dev: bool) -> str:
    # `npm ci` needs a lock file and is reproducible; without one, `npm install`.
    # Only looked at, never read: a link is the container's business, not the host's.
    has_lock = repo.exists("package-lock.json")
    command = "npm ci" if has_lock else "npm install"
    if omit_dev:
        command += " --omit=dev"
    # A root-owned cache left in /tmp would make npm fail for the non-root runtime user.
    return f"{command} && rm -rf /tmp/.npm"


def _node_env() -> list[str]:
    # Non-root at runtime has no writable HOME: keep npm's cache and logs in /tmp.
    return ["ENV HOME=/tmp npm_config_cache=/tmp/.npm npm_config_update_notifier=false"]


# --- the templates ---------------------------------------------------------------------


def _static(repo: Checkout, bases: BaseImages, with_ca: bool) -> str:
    site = next((d for d in STATIC_DIRS if repo.is_dir(d)), None)
    if site is not None:
        copy = [f"COPY {site}/ /www/"]
    else:
        # The whole repository is the site: drop what must not be served.
        copy = ["COPY . /www/", f"RUN rm -rf /www/.git /www/{CA_FILENAME}"]
    return _join(_nginx_site(repo, bases, with_ca, copy, "static"))


def _react(repo: Checkout, bases: BaseImages, with_ca: bool) -> str:
    build = [
        f"FROM {bases['node']} AS build",
        *_ca_lines(with_ca),
        *_node_env(),
        "WORKDIR /app",
        "COPY package*.json ./",
        f"RUN {_npm_install(repo, omit_dev=False)}",
        "COPY . .",
        # Vite writes dist/, create-react-app build/: which one is known only now.
        "RUN npm run build && mkdir -p /out \\",
        "    && if [ -d dist ]; then cp -r dist/. /out/; \\",
        "       elif [ -d build ]; then cp -r build/. /out/; \\",
        '       else echo "npm run build made neither dist/ nor build/" >&2; exit 1; fi',
    ]
    site = _nginx_site(repo, bases, with_ca, ["COPY --from=build /out/ /www/"], "spa")
    return _join([*build, "", *site])


def _flask(repo: Checkout, bases: BaseImages, with_ca: bool) -> str:
    # Always gunicorn, through hostd's shim (hostd.source.pyapp): it finds the app the
    # way `flask run` would, FLASK_APP (a config var) first, then what is found here.
    install, copied = install_lines(repo, repo.read_text("requirements.txt"))
    return _join([
        f"FROM {bases['python']}",
        # Flask's instance folder is a link into /data (unless the repository has one).
        *_data_lines(app_dir=True, then=instance_link(repo)),
        *_ca_lines(with_ca),
        "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        # A venv: Debian's python refuses system-wide pip installs (PEP 668).
        "RUN python3 -m venv /venv",
        "ENV PATH=/venv/bin:$PATH",
        "WORKDIR /app",
        *install,
        f"COPY {WSGI_SHIM_NAME} {SHIM_DIR}/{WSGI_SHIM_NAME}",
        *([] if copied else ["COPY . ."]),
        *_flask_app_default(repo),
        *_runtime_lines(GUNICORN, repo),
    ])


def _nodejs(repo: Checkout, bases: BaseImages, with_ca: bool) -> str:
    return _join([
        f"FROM {bases['node']}",
        *_data_lines(app_dir=True),
        *_ca_lines(with_ca),
        *_node_env(),
        "ENV NODE_ENV=production",
        "WORKDIR /app",
        "COPY package*.json ./",
        f"RUN {_npm_install(repo, omit_dev=True)}",
        "COPY . .",
        *_runtime_lines("npm start", repo),
    ])


def _flask_app_default(repo: Checkout) -> list[str]:
    """What the shim loads when FLASK_APP is not set: what the repository names, or its
    app.py/wsgi.py (without either, Flask's discovery says what is missing)."""
    module = flask_app_module(repo)
    if module == "app:app" and not repo.is_file("app.py"):
        return []
    return [f"ENV HOSTD_FLASK_APP={json.dumps(module)}"]  # quoted: the text is the repo's


def flask_app_module(source: Checkout | Path) -> str:
    """The WSGI target (``module:app``): FLASK_APP in .flaskenv/.env, else app.py, wsgi.py."""
    repo = source if isinstance(source, Checkout) else Checkout(source)
    for env_file in (".flaskenv", ".env"):
        value = _env_file_value(repo.read_text(env_file), "FLASK_APP")
        if value:
            module = value.removesuffix(".py").replace("/", ".")
            return module if ":" in module else f"{module}:app"
    for candidate in ("app", "wsgi"):
        if repo.is_file(f"{candidate}.py"):
            return f"{candidate}:app"
    return "app:app"


def _env_file_value(text: str | None, key: str) -> str | None:
    for line in (text or "").splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.strip() == key:
            return value.strip().strip("'\"") or None
    return None


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
