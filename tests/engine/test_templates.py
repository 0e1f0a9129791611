"""render_dockerfile and friends: pure functions of a repository directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.engine import (
    BaseImages,
    UnknownTemplate,
    base_image_for,
    prepare_build_context,
    render_dockerfile,
    show_template,
    template_names,
)
from hostd.source import nginx
from hostd.source.bases import DEBIAN_SUITE, NGINX_IMAGE, NGINX_PACKAGE
from hostd.source.templates import CA_FILENAME, flask_app_module

BASES = BaseImages(python="py:test", node="node:test", nginx="ngx:test")
CA_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS",
           "npm_config_cafile")


def write(repo: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return repo


def test_template_names() -> None:
    assert template_names() == ["static", "react", "flask", "nodejs"]


@pytest.mark.parametrize("template", ["static", "react", "flask", "nodejs"])
def test_repo_dockerfile_wins(repo: Path, template: str) -> None:
    write(repo, {"Dockerfile": "FROM scratch\n"})
    assert render_dockerfile(template, repo, BASES) is None


def test_unknown_template(repo: Path) -> None:
    with pytest.raises(UnknownTemplate, match="static"):
        render_dockerfile("rails", repo, BASES)


@pytest.mark.parametrize(
    ("files", "copy"),
    [
        ({"public/index.html": "", "dist/index.html": ""}, "COPY public/ /www/"),
        ({"dist/index.html": "", "build/index.html": ""}, "COPY dist/ /www/"),
        ({"build/index.html": ""}, "COPY build/ /www/"),
        ({"index.html": ""}, "COPY . /www/"),
    ],
)
def test_static_serves_first_existing_dir(repo: Path, files: dict[str, str], copy: str) -> None:
    dockerfile = render_dockerfile("static", write(repo, files), BASES)
    assert dockerfile is not None
    assert dockerfile.startswith("FROM ngx:test\n")
    assert copy in dockerfile
    assert "USER 65534:65534" in dockerfile
    # A missing file is a 404: no single-page-app fallback for plain sites.
    assert 'CMD ["sh", "-c", "exec hostd-nginx static"]' in dockerfile
    assert "httpd" not in dockerfile


def test_static_root_site_drops_git_and_ca(repo: Path) -> None:
    dockerfile = render_dockerfile("static", write(repo, {"index.html": ""}), BASES)
    assert dockerfile is not None and f"rm -rf /www/.git /www/{CA_FILENAME}" in dockerfile


@pytest.mark.parametrize(("lock", "install"), [(True, "RUN npm ci"), (False, "RUN npm install")])
def test_react_is_multi_stage_and_normalises_output(repo: Path, lock: bool, install: str) -> None:
    write(repo, {"package.json": "{}"})
    if lock:
        write(repo, {"package-lock.json": "{}"})
    dockerfile = render_dockerfile("react", repo, BASES)
    assert dockerfile is not None
    assert "FROM node:test AS build" in dockerfile
    assert install in dockerfile and "--omit=dev" not in dockerfile
    assert "cp -r dist/. /out/" in dockerfile and "cp -r build/. /out/" in dockerfile
    assert "FROM ngx:test\n" in dockerfile
    assert "COPY --from=build /out/ /www/" in dockerfile
    # Client-side routing: unknown paths get index.html.
    assert 'CMD ["sh", "-c", "exec hostd-nginx spa"]' in dockerfile


GUNICORN_CMD = ('CMD ["sh", "-c", "exec gunicorn -b 0.0.0.0:$PORT --access-logfile - '
                '--chdir /app --pythonpath /opt/hostd hostd_wsgi:app"]')


def test_flask_is_always_served_by_gunicorn(repo: Path) -> None:
    write(repo, {"app.py": "", "requirements.txt": "Flask==3.0\ngunicorn>=21\n"})
    dockerfile = render_dockerfile("flask", repo, BASES)
    assert dockerfile is not None
    assert "RUN pip install -r requirements.txt" in dockerfile
    assert "RUN pip install gunicorn" not in dockerfile  # listed already
    assert dockerfile.rstrip().endswith(GUNICORN_CMD)
    assert 'ENV HOSTD_FLASK_APP="app:app"' in dockerfile


def test_flask_without_gunicorn_gets_it_and_never_the_dev_server(repo: Path) -> None:
    write(repo, {"wsgi.py": "", "requirements.txt": "flask\ngunicorn-extras-not-it\n"})
    dockerfile = render_dockerfile("flask", repo, BASES)
    assert dockerfile is not None
    assert "RUN pip install gunicorn" in dockerfile and "flask run" not in dockerfile
    assert 'ENV HOSTD_FLASK_APP="wsgi:app"' in dockerfile
    assert dockerfile.rstrip().endswith(GUNICORN_CMD)


def test_a_pyproject_project_is_installed_as_itself(repo: Path) -> None:
    write(repo, {"pyproject.toml": "[project]\nname='flaskr'\n", "flaskr/__init__.py": ""})
    dockerfile = render_dockerfile("flask", repo, BASES)
    assert dockerfile is not None
    assert "COPY . .\nRUN pip install .\n" in dockerfile
    assert dockerfile.count("COPY . .") == 1
    assert "HOSTD_FLASK_APP" not in dockerfile  # no app.py: FLASK_APP (a config var) names it
    # Flask's instance folder persists: a link into /data, made before anything is copied.
    assert "\nRUN mkdir -p /data /app && chown 65534:65534 /data /app" \
        " && ln -s /data/instance /app/instance\n" in dockerfile


def test_a_repositorys_own_instance_folder_is_kept(repo: Path) -> None:
    write(repo, {"app.py": "", "instance/config.py": "X = 1\n"})
    dockerfile = render_dockerfile("flask", repo, BASES)
    assert dockerfile is not None and "/app/instance" not in dockerfile


@pytest.mark.parametrize("template", ["static", "flask", "nodejs"])
def test_a_procfile_web_line_is_the_start_command(repo: Path, template: str) -> None:
    write(repo, {"Procfile": "release: ./migrate\nweb: ./serve --port $PORT \"a b\"\n",
                 "app.py": "", "package.json": "{}", "index.html": "hi"})
    dockerfile = render_dockerfile(template, repo, BASES)
    assert dockerfile is not None
    assert dockerfile.rstrip().endswith(
        'CMD ["sh", "-c", "./serve --port $PORT \\"a b\\""]'), dockerfile


def test_apps_get_a_data_directory_they_can_write(repo: Path) -> None:
    write(repo, {"index.html": "hi"})
    dockerfile = render_dockerfile("static", repo, BASES)
    assert dockerfile is not None
    assert "RUN mkdir -p /data && chown 65534:65534 /data" in dockerfile


@pytest.mark.parametrize(
    ("files", "module"),
    [
        ({}, "app:app"),
        ({"wsgi.py": ""}, "wsgi:app"),
        ({"app.py": "", "wsgi.py": ""}, "app:app"),
        ({".flaskenv": "FLASK_APP=server.py\n", "app.py": ""}, "server:app"),
        ({".env": "export FLASK_APP='web.main:create_app()'\n"}, "web.main:create_app()"),
    ],
)
def test_flask_app_module(repo: Path, files: dict[str, str], module: str) -> None:
    assert flask_app_module(write(repo, files)) == module


def test_flask_without_requirements_installs_flask(repo: Path) -> None:
    dockerfile = render_dockerfile("flask", write(repo, {"app.py": ""}), BASES)
    assert dockerfile is not None and "RUN pip install flask" in dockerfile


def test_nodejs_omits_dev_dependencies(repo: Path) -> None:
    dockerfile = render_dockerfile("nodejs", write(repo, {"package.json": "{}"}), BASES)
    assert dockerfile is not None
    assert "RUN npm install --omit=dev" in dockerfile
    assert 'CMD ["sh", "-c", "exec npm start"]' in dockerfile


@pytest.mark.parametrize("template", ["static", "react", "flask", "nodejs"])
def test_ca_bundle_reaches_build_and_runtime(repo: Path, tmp_path: Path, template: str) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    write(repo, {"package.json": "{}", "index.html": ""})
    plan = prepare_build_context(template, repo, BASES, bundle)
    # A context member, never a file written into the (hostile) checkout.
    assert plan.extra[CA_FILENAME] == bundle.read_bytes()
    assert not (repo / CA_FILENAME).exists()
    assert plan.dockerfile is not None
    # Once per stage: the build stage and the runtime stage both trust it.
    stages = plan.dockerfile.count("\nFROM ") + 1
    assert plan.dockerfile.count(f"COPY {CA_FILENAME} ") == stages
    for var in CA_VARS:
        assert plan.dockerfile.count(f"{var}=") == stages


def test_no_ca_lines_without_bundle(repo: Path) -> None:
    plan = prepare_build_context("flask", write(repo, {"app.py": ""}), BASES, None)
    assert plan.dockerfile is not None and "PIP_CERT" not in plan.dockerfile
    assert not (repo / CA_FILENAME).exists() and CA_FILENAME not in plan.extra


def test_repo_dockerfile_still_gets_the_bundle(repo: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("pem")
    plan = prepare_build_context("flask", write(repo, {"Dockerfile": "FROM x\n"}), BASES, bundle)
    assert plan.uses_repo_dockerfile and plan.dockerfile == "FROM x\n"
    assert plan.extra[CA_FILENAME] == b"pem"


@pytest.mark.parametrize("template", ["static", "react", "flask", "nodejs"])
def test_show_template_and_no_buildkit_syntax(template: str) -> None:
    dockerfile = show_template(template)
    assert dockerfile.startswith("FROM hostd/")
    assert "--mount" not in dockerfile and "<<" not in dockerfile
    assert "ENV PORT=8000" in dockerfile and "EXPOSE 8000" in dockerfile


def test_show_template_serves_sites_from_hostd_nginx() -> None:
    assert show_template("static").startswith(f"FROM {NGINX_IMAGE}\n")
    assert f"\nFROM {NGINX_IMAGE}\n" in show_template("react")


def test_nginx_config_fits_hostds_containers() -> None:
    # Non-root, maybe a read-only root: nothing may be written outside /tmp.
    conf = nginx.NGINX_CONF
    for directive in ("daemon off;", "pid /tmp/", "error_log stderr", "sendfile on;",
                      "server_tokens off;", "include /etc/nginx/mime.types;",
                      "absolute_redirect off;", "gzip on;", "access_log /dev/stdout"):
        assert directive in conf, directive
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{temp}_temp_path /tmp/" in conf
    assert "user " not in conf.replace("user_agent", "")
    assert "try_files $uri $uri/ =404;" in nginx.STATIC_LOCATION
    assert "try_files $uri $uri/ /index.html;" in nginx.SPA_LOCATION
    assert "backlog=4096" in nginx.START_SH and "exec nginx " in nginx.START_SH


def test_nginx_image_tag_follows_its_config() -> None:
    # bootstrap skips present images: a changed config must name a new image.
    assert NGINX_IMAGE.startswith("hostd/nginx:1-")
    assert NGINX_IMAGE.endswith(nginx.digest(f"{DEBIAN_SUITE} {NGINX_PACKAGE}"))
    assert nginx.digest("trixie nginx") != nginx.digest("bookworm nginx-light")


def test_base_image_for_is_the_runtime_stage() -> None:
    assert base_image_for("static", BASES) == "ngx:test"
    assert base_image_for("react", BASES) == "ngx:test"
    assert base_image_for("flask", BASES) == "py:test"
    assert base_image_for("nodejs", BASES) == "node:test"
