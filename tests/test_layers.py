"""The layout keeps its arrows pointing one way: each package imports only the layers
below it (read from the source, so a new import that points up fails here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HOSTD = Path(__file__).resolve().parent.parent / "hostd"
# What each package may import of hostd, besides itself and the shared top modules.
SHARED = {"hostd.config", "hostd.errors", "hostd.events", "hostd.logs", "hostd.naming",
          "hostd.templates", "hostd"}
TOP_SHARED = {"config", "errors", "events", "logs", "naming", "templates"}
ALLOWED = {
    "source": set(),
    "engine": {"source", "control.runtime"},  # the Docker adapter implements the port
    "store": {"source.templates"},
    "router": {"store", "router"},
    # The engine only through the port (control.runtime, which re-exports its errors).
    "control": {"store", "source", "router.counts", "router.drain"},
    "api": {"control", "store", "router", "services"},
    "admin": {"control", "store", "engine", "source"},  # `hostd` commands' maintenance
    "web": set(),  # pages and files only: the pages reach the API over HTTP, like any client
}
# The top modules that sit below the API: what each may import besides the shared ones.
TOP_ALLOWED = {"services": {"control", "store", "engine", "router"}}
FORBIDDEN_LIBRARIES = {"router": {"docker", "fastapi", "starlette"},
                       "source": {"docker", "fastapi", "sqlmodel"},
                       "store": {"docker", "fastapi"}, "control": {"fastapi"},
                       "web": {"docker", "sqlmodel", "sqlalchemy"}}


def hostd_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def allowed(package: str, name: str, rules: dict[str, set[str]] = ALLOWED) -> bool:
    if not name.startswith("hostd.") or name in SHARED:
        return True
    inner = name.removeprefix("hostd.")
    if inner.split(".")[0] == package or inner.split(".")[0] in TOP_SHARED:
        return True
    return any(inner == a or inner.startswith(a + ".") for a in rules[package])


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below(package: str) -> None:
    wrong = []
    for path in sorted((HOSTD / package).rglob("*.py")):
        for name in sorted(hostd_imports(path)):
            top = name.split(".")[0]
            if not allowed(package, name) or top in FORBIDDEN_LIBRARIES.get(package, ()):
                wrong.append(f"{path.relative_to(HOSTD.parent)}: {name}")
    assert wrong == []


@pytest.mark.parametrize("module", sorted(TOP_ALLOWED))
def test_a_top_module_below_the_api_imports_only_the_layers_below(module: str) -> None:
    """`Services` is what the API is handed: its parts live beneath it, never in api/."""
    path = HOSTD / f"{module}.py"
    wrong = [name for name in sorted(hostd_imports(path))
             if not allowed(module, name, TOP_ALLOWED)]
    assert wrong == []


def test_the_top_holds_at_most_ten_modules() -> None:
    assert len(list(HOSTD.glob("*.py"))) <= 10


def test_no_file_is_over_400_lines() -> None:
    long = [str(p.relative_to(HOSTD.parent)) for p in HOSTD.rglob("*.py")
            if len(p.read_text().splitlines()) > 400]
    assert long == []


def module_path(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for candidate in (HOSTD.joinpath(*parts).with_suffix(".py"),
                      HOSTD.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def with_packages(name: str) -> list[str]:
    """`name` and the packages Python runs first to import it (hostd.a.b: hostd.a too)."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(2, len(parts) + 1)]


def reachable_modules(start: Path) -> set[Path]:
    """Every hostd module `start` imports, directly or through others, packages' own
    __init__ included (read, not run)."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in hostd_imports(path):
            if not name.startswith("hostd."):
                continue
            for step in with_packages(name):
                found = module_path(step)
                if found is not None:
                    todo.append(found)
    return seen


@pytest.mark.parametrize("package", ["control", "store", "router", "source"])
def test_the_docker_sdk_is_reached_only_beneath_the_runtime_port(package: str) -> None:
    """No module of the control plane (or below it but engine/) reaches docker, even
    through another module: only hostd.engine's adapters import it, behind the port."""
    wrong = []
    for path in sorted((HOSTD / package).rglob("*.py")):
        for module in sorted(reachable_modules(path)):
            if {"docker", "requests"} & {n.split(".")[0] for n in hostd_imports(module)}:
                wrong.append(f"{path.relative_to(HOSTD.parent)} reaches "
                             f"{module.relative_to(HOSTD.parent)}")
    assert wrong == []
