"""The ``journey`` entry point: every command group registered, errors as one line.

Exit codes: 0 success; 1 bad input, a refused request or a bug ("internal error"); 2 a
usage error: an unknown command or option, a missing argument, a bad option value or a bad
``JOURNEY_*`` setting (``<option or variable>: <what is wrong> (got <value>)``);
65 (EX_DATAERR) the Kafka broker lost messages it had acknowledged to the relay (see
``journey.infra.kafka.losses``); 75 (EX_TEMPFAIL) an operational failure that retrying
later may cure: the database is unreachable or went away, the disk is full, the database
stayed locked too long, the Kafka broker is unreachable; 130 interrupted (Ctrl-C: one line
``journey: interrupted: <what was kept>; <how to resume>``, see ``interrupts``).
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import typer

from journey.domain.errors import JourneyError, UsageError
from journey.infra.cli.app import app, log, state
from journey.infra.cli.interrupts import Interrupted
from journey.infra.settings import SettingsError

#: The command groups, in the order ``journey --help`` lists them (importing a group
#: registers its commands on ``app``).
COMMAND_GROUPS = ("ingesting", "views", "audit", "workload", "kafka", "serving", "reporting",
                  "schema")
for _group in COMMAND_GROUPS:
    importlib.import_module(f"{__package__}.{_group}")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DATA_LOST = 65  # EX_DATAERR
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C ended


def _interrupted(kept: str | None = None) -> NoReturn:
    """Ctrl-C: one line, with what was kept and how to resume when the command said so."""
    sys.stderr.write("journey: interrupted" + (f": {' '.join(kept.split())}" if kept else "")
                     + "\n")
    raise SystemExit(EXIT_INTERRUPTED)


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    sys.stderr.write(f"journey: error: {' '.join(message.split())}\n")  # one line, never wrapped
    raise SystemExit(code)


def _store_url() -> str:
    """The store this command was given (``--db``, else the settings), password hidden."""
    from journey.infra.store.urls import redact

    args = sys.argv[1:]
    url = state.settings.db
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            url = args[i + 1]
        elif arg.startswith("--db="):
            url = arg[len("--db="):]
    return redact(url)


def _raised_as(exc: Exception, module: str, name: str) -> bool:
    """``isinstance(exc, module.name)``, without importing ``module``: no exception is of a
    class whose module was never imported (so a query never imports Kafka to tell)."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _operational(exc: Exception) -> tuple[str, int] | None:
    """The one-line message and exit code of an operational failure, else ``None``."""
    from journey.infra.store.errors import OPERATIONAL_KINDS, operational_failure

    if _raised_as(exc, "journey.infra.kafka.losses", "BrokerDataLost"):
        return str(exc), EXIT_DATA_LOST
    if isinstance(exc, JourneyError) and str(exc).startswith(tuple(OPERATIONAL_KINDS.values())):
        return str(exc), EXIT_TEMPFAIL  # already says what, where and since when
    failure = operational_failure(exc)
    if failure is not None:
        kind, detail = failure
        log.error("operational_failure", failure=kind, error=detail)
        return f"{OPERATIONAL_KINDS[kind]} ({_store_url()}): {detail}", EXIT_TEMPFAIL
    if _raised_as(exc, "journey.infra.kafka.client", "KafkaUnavailable"):
        return f"the Kafka broker is unreachable: {exc}", EXIT_TEMPFAIL
    return None


def _usage(exc: typer.TyperException) -> str:
    """Click's usage error (unknown option, missing argument, a value its type refused)
    as one line naming the option, and where to look."""
    param = getattr(exc, "param", None)
    message = exc.format_message() if param is None or not exc.message else exc.message
    message = message.removeprefix("Value error, ")
    if param is not None and exc.message:
        name = param.opts[0] if param.opts else (param.name or "value").upper()
        message = f"{name}: {message}"
    ctx = getattr(exc, "ctx", None)
    return message + (f" (see {ctx.command_path} --help)" if ctx is not None else "")


#: The options before the command (``app.main_options``): those that take a value, and flags.
TOP_OPTIONS_WITH_VALUE = ("--db", "--log-level", "--log-format")
TOP_FLAGS = ("--json", "--version")


def app_for(args: Sequence[str]) -> typer.Typer:
    """``app``, with only the command ``args`` run registered when they plainly name one.

    Typer builds every registered command (it reads each one's annotations) before it parses
    the arguments: a tenth of a query's start-up. The command asked for parses and runs the
    same alone; anything else (help, a group, a name that is no command, an option not known
    here) gets the whole app."""
    at = 0
    while at < len(args) and args[at].startswith("-"):
        option = args[at].split("=", 1)[0]
        if option in TOP_FLAGS:
            at += 1
        elif option in TOP_OPTIONS_WITH_VALUE:
            at += 1 if "=" in args[at] else 2
        else:
            return app
    for info in app.registered_commands if at < len(args) else ():
        if info.callback is not None and args[at] == (
                info.name or info.callback.__name__.lower().replace("_", "-")):
            narrow = copy.copy(app)  # the same app, less the other commands
            narrow.registered_commands, narrow.registered_groups = [info], []
            return narrow
    return app


def main() -> None:
    """Entry point: one clear error line and a non-zero exit, never a traceback."""
    try:
        code = app_for(sys.argv[1:])(standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors: exit 2 like ours
        _fail(_usage(exc), exc.exit_code)
    except (UsageError, SettingsError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except typer.Abort:
        _fail("aborted")
    except Interrupted as exc:  # the command said what it kept and how to resume
        _interrupted(str(exc))
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        os._exit(1)  # stdout closed by the reader (e.g. `| head`); nothing left to say
    except Exception as exc:
        operational = _operational(exc)
        if operational is not None:
            _fail(*operational)
        if isinstance(exc, JourneyError):
            _fail(str(exc))
        # A bug: say so plainly, details in the structured log.
        log.error("internal_error", exc_info=state.settings.log_level == "debug")
        _fail(f"internal error: {type(exc).__name__}: {exc}")
    if code == EXIT_INTERRUPTED:  # Ctrl-C that Typer caught itself (outside on_interrupt)
        _interrupted()
    if isinstance(code, int) and code:  # typer.Exit(n)
        raise SystemExit(code)
