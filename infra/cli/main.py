"""The ``journey`` entry point: every command group registered, errors as one line."""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

from journey.domain.errors import JourneyError
from journey.infra.cli.app import app, log

#: The command groups, in the order ``journey --help`` lists them (importing a group
#: registers its commands on ``app``).
COMMAND_GROUPS = ("ingesting", "views", "audit", "workload", "kafka", "schema")
for _group in COMMAND_GROUPS:
    importlib.import_module(f"{__package__}.{_group}")


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"journey: error: {' '.join(message.split())}\n")  # one line, never wrapped
    raise SystemExit(code)


def main() -> None:
    """Entry point: one clear error line and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=True)
    except JourneyError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        os._exit(1)  # stdout closed by the reader (e.g. `| head`); nothing left to say
    except Exception as exc:  # a bug: say so plainly, details in the structured log
        log.error("internal_error", exc_info=os.environ.get("JOURNEY_LOG_LEVEL") == "debug")
        _fail(f"internal error: {type(exc).__name__}: {exc}")
