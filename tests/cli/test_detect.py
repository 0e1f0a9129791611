"""hostctl.detect: which template `hostctl up` picks from a directory's top files."""

from __future__ import annotations

import json

import pytest

from hostctl.detect import DetectError, detect


def reader(files: dict[str, str]):
    return files.get


def pkg(**fields: object) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize("files, template", [
    ({"package.json": pkg(scripts={"build": "vite build"}, devDependencies={"vite": "5"}),
      "index.html": "<div id=root>"}, "react"),
    ({"package.json": pkg(scripts={"build": "react-scripts build"},
                          dependencies={"react": "18"})}, "react"),
    ({"package.json": pkg(dependencies={"react": "18"})}, "nodejs"),  # no build script
    ({"package.json": pkg(scripts={"start": "node server.js"})}, "nodejs"),
    ({"package.json": "[]"}, "nodejs"),
    ({"requirements.txt": "Flask==3.0\n"}, "flask"),
    ({"pyproject.toml": '[project]\ndependencies = ["flask"]\n'}, "flask"),
    ({"app.py": "from flask import Flask\n"}, "flask"),
    ({"index.html": "<h1>hi</h1>"}, "static"),
    ({"requirements.txt": "django\n", "index.html": "x"}, "static"),
])
def test_each_template_is_detected(files, template):
    assert detect(reader(files)).template == template


def test_a_dockerfile_wins_and_says_so():
    found = detect(reader({"Dockerfile": "FROM scratch", "package.json": pkg()}))
    assert found.own_dockerfile and "Dockerfile" in found.why
    assert found.template == "nodejs"
    assert detect(reader({"Dockerfile": "FROM scratch"})).own_dockerfile


@pytest.mark.parametrize("files", [
    {},
    {"README.md": "hello", "requirements.txt": "django\n"},
    {"package.json": pkg(), "requirements.txt": "flask\n"},
    {"package.json": "{not json"},
])
def test_nothing_or_two_candidates_ask_for_template(files):
    with pytest.raises(DetectError, match="--template"):
        detect(reader(files))
