"""The project templates: the one list of their names, and the base images each needs.

Pure data (no docker, nothing else of hostd), so every layer takes the names from here:
the engine renders the templates (``hostd/source/templates.py``), the store's
:data:`Template` enum validates a project's, ``hostd templates`` and hostctl's
``--template`` offer them, and hostctl's shell completions are generated from that option.
"""

from __future__ import annotations

from enum import StrEnum

# Template name -> the base image roles (see engine.images.resolve_base_images) it
# builds on, in build order. Adding a template here adds it everywhere; its Dockerfile
# renderer and example repository go in hostd/source/templates.py.
TEMPLATE_BASES: dict[str, tuple[str, ...]] = {
    "static": ("nginx",),
    "react": ("node", "nginx"),
    "flask": ("python",),
    "nodejs": ("node",),
}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATE_BASES)

# An enum of the names, for request bodies, responses and hostctl's option. mypy reads
# an enum's members only from a literal: these come from TEMPLATE_BASES.
Template = StrEnum(  # type: ignore[misc]
    "Template", [(name, name) for name in TEMPLATE_NAMES], module=__name__)

