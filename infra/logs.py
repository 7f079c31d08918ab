"""One structlog configuration: JSON lines on stderr when not a terminal, readable when it is.

structlog is imported by the first module that logs, not before: importing it costs a command
a fifth of its start-up (it loads rich's tracebacks and asyncio), and a query logs nothing.
The configuration asked for (``configure_logging``, or the library's default) is applied at
once when structlog is already imported, else right after it is (``_when_imported``), so
every line is logged as configured whoever imports structlog first. The doors log through
``Logger``, which imports structlog at the first line.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from journey.infra.settings import LOG_FORMATS as FORMATS
from journey.infra.settings import LOG_LEVELS as LEVELS

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    import structlog


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Send every log line to stderr; ``fmt`` is ``auto``, ``json`` or ``console``."""
    if level.lower() not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level {level!r} (expected one of {', '.join(LEVELS)}) or log "
                         f"format {fmt!r} (expected one of {', '.join(FORMATS)}) unknown")
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    _when_imported("configure_logging", partial(_configure, level, use_console))


def _configure(level: str, use_console: bool) -> None:
    import structlog

    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks if not use_console else _identity,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _identity(
    _logger: object, _name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event_dict


def library_default() -> None:
    """The engine used as a library is quiet: unless the application (or the ``journey``
    command, ``configure_logging``) has configured structlog, the engine's log lines go to
    the standard library's ``logging``, under their loggers' names (``journey.ingest``,
    ``journey.views`` ...). Python's defaults then apply: nothing below WARNING, and
    warnings and errors on stderr (``logging.lastResort``) until the application sets up
    handlers of its own (``logging.basicConfig(level=logging.DEBUG)`` shows everything).

    Called when ``journey.infra`` is first imported (and applied when structlog is); an
    application that configures structlog before or after keeps its own configuration.
    """
    _when_imported("library_default", _library_default)


def _library_default() -> None:
    import structlog

    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # a level the logger drops costs one check
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            structlog.processors.LogfmtRenderer(key_order=["event"], drop_missing=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


class Logger:
    """``structlog.get_logger(name)`` for the doors, structlog imported at the first line
    logged (a command that logs nothing never imports it)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, method: str) -> Any:
        import structlog

        return getattr(structlog.get_logger(self.name), method)


# --- applying a configuration when structlog is imported ----------------------------------------

#: What to apply once structlog is imported, by purpose, in the order first asked (the
#: library's default before the command line's configuration); a purpose asked again keeps
#: only its latest.
_PENDING: dict[str, Callable[[], None]] = {}


def _when_imported(purpose: str, apply: Callable[[], None]) -> None:
    """``apply()`` now if structlog is imported, else right after its import."""
    if "structlog" in sys.modules:
        apply()
        return
    _PENDING[purpose] = apply
    if not any(isinstance(finder, _AfterStructlog) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterStructlog())


def _apply_pending() -> None:
    while _PENDING:
        _PENDING.pop(next(iter(_PENDING)))()


class _AfterStructlog(importlib.abc.MetaPathFinder):
    """Finds structlog with the other finders, and has its loader apply ``_PENDING`` once
    the package has run (then steps aside)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != "structlog":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenApply(spec.loader)
        return spec


class _ThenApply(importlib.abc.Loader):
    """A loader that runs the real one, then applies the pending configuration."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _apply_pending()

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader ...
        return getattr(self.loader, name)
