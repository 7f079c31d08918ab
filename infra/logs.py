"""One structlog configuration: JSON lines on stderr when not a terminal, readable when it is."""

from __future__ import annotations

import logging
import sys

import structlog

from journey.infra.settings import LOG_FORMATS as FORMATS
from journey.infra.settings import LOG_LEVELS as LEVELS


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Send every log line to stderr; ``fmt`` is ``auto``, ``json`` or ``console``."""
    if level.lower() not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level {level!r} (expected one of {', '.join(LEVELS)}) or log "
                         f"format {fmt!r} (expected one of {', '.join(FORMATS)}) unknown")
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
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

    Called when ``journey.infra`` is first imported; an application that configures
    structlog before or after keeps its own configuration.
    """
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
