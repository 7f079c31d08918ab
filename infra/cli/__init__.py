"""The ``journey`` command line: the composition root that wires settings, store and services.

``app`` (shared options and rendering) and one module per command group; ``main`` is the
entry point (``[project.scripts]`` in pyproject.toml).
"""

from journey.infra.cli.main import main

__all__ = ["main"]
