"""Python web apps as people write them, for the flask template.

* Dependencies from `requirements.txt`, else the project itself (`pip install .` from a
  `pyproject.toml`), else just Flask; gunicorn is added when the project does not list it.
* The app is always served by gunicorn, never Flask's development server, through a
  shim (`hostd_wsgi.py`, put in the build context by hostd) that finds it the way `flask
  run` does: `FLASK_APP` (a config var, else .flaskenv/.env), a module or package with
  an `app`, or an app factory (`create_app`/`make_app`), else `app.py`/`wsgi.py`.
  Workers: `WEB_CONCURRENCY`, which hostd sets from the container's CPU quota.
* Flask's instance folder (`/app/instance`, the usual home of an app's SQLite database)
  is a link into the project's persistent `/data`, unless the repository has its own.

Every file is only looked at through a Checkout (regular files, size-capped, no links).
"""

from __future__ import annotations

import json
import re

from hostd.source.checkout import Checkout

WSGI_SHIM_NAME = "hostd_wsgi.py"
SHIM_DIR = "/opt/hostd"
DATA_DIR = "/data"
# Flask's own discovery (the code behind `flask --app`); FLASK_APP from the container's
# environment first, then the default hostd found in the repository.
WSGI_SHIM = b'''\
"""hostd's WSGI entry point: the Flask app found the way `flask run` finds it."""
import os

from flask.cli import ScriptInfo

os.makedirs("/data/instance", exist_ok=True)
app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP")
                 or os.environ.get("HOSTD_FLASK_APP") or None).load_app()
'''
GUNICORN = ("gunicorn -b 0.0.0.0:$PORT --access-logfile - --chdir /app "
            f"--pythonpath {SHIM_DIR} hostd_wsgi:app")


def install_lines(repo: Checkout, requirements: str | None) -> tuple[list[str], bool]:
    """The Dockerfile lines that install the app's dependencies (gunicorn included), and
    whether they copied the whole repository already (`pip install .` needs it)."""
    if requirements is not None:
        lines = ["COPY requirements.txt ./", "RUN pip install -r requirements.txt"]
        copied = False
    elif repo.is_file("pyproject.toml"):
        lines = ["COPY . .", "RUN pip install ."]
        copied = True
    else:
        lines = ["RUN pip install flask"]
        copied = False
    if not lists_package(requirements, "gunicorn"):
        lines.append("RUN pip install gunicorn")
    return lines, copied


def lists_package(requirements: str | None, package: str) -> bool:
    pattern = re.compile(rf"^\s*{re.escape(package)}\s*(?:[\[=<>!~;@ ]|$)", re.IGNORECASE)
    return any(pattern.match(line) for line in (requirements or "").splitlines())


def instance_link(repo: Checkout) -> str | None:
    """The command that makes /app/instance a link into /data; None when the repository
    has its own instance folder (its config), which stays as it is."""
    if repo.kind("instance") is not None:
        return None
    return f"ln -s {DATA_DIR}/instance /app/instance"


def cmd_line(command: str, *, exec_it: bool = True) -> str:
    """A CMD that runs `command` through sh (for $PORT), with `exec` for hostd's own
    commands (the server gets the signals; a Procfile's may be compound, so not there).
    JSON-quoted, so any text of the user's stays one argument."""
    return "CMD " + json.dumps(["sh", "-c", f"exec {command}" if exec_it else command])
