"""Every command has help that ends with an example; completions match the command tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from hostctl.cli import app
from hostctl.completion import SHELL_FILES, generate_all

COMPLETIONS_DIR = Path(__file__).resolve().parents[2] / "completions"


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "hostctl")
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    leaf = path[-1] if path else None
    if leaf and leaf != "projects":
        assert f"hostctl {' '.join(path)}" in result.output, "the example runs this command"


def test_the_tree_has_the_issue_commands():
    names = {" ".join(p) for p in command_paths()}
    expected = {"register", "login", "whoami", "logout", "password", "top", "projects", "releases",
                "rollback"} | {
        f"projects {c}" for c in
        ("list", "show", "create", "set", "deploy", "start", "stop", "restart", "status", "logs",
         "delete")
    }
    assert expected <= names


@pytest.mark.parametrize("file_name", sorted(SHELL_FILES.values()))
def test_completions_are_up_to_date(file_name):
    committed = (COMPLETIONS_DIR / file_name).read_text()
    assert committed == generate_all(app)[file_name], (
        "completions are out of date: run `python -m hostctl.completion`"
    )
