"""The journey engine: an event-sourced customer-journey engine for service management.

Every module imports as ``journey.<folder>...``; the folders stay at the top of the
repository (``domain/``, ``projections/``, ``consumers/``, ``schemas/``, ``infra/``) and
``pyproject.toml`` maps them under this package.
"""

__version__ = "0.1.0"
