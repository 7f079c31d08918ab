"""Every option's check, in one place: a bad value is one line, exit 2.

Each factory returns a Typer ``parser=`` for one option: it takes the text given (or the
declared default, already typed) and returns the value, or raises ``UsageError`` with
``<option>: <what is wrong> (got <value>)``. Typer runs the parsers while it reads the
command line, before the command's body, so no store is opened for a refused option.
The checks the HTTP API shares (counts, numbers, choices, days, time bounds ...) live in
``journey.infra.parameters``; this module names them for the command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from journey.domain.errors import JourneyError, UsageError
from journey.infra.bounds import FORMATS
from journey.infra.parameters import (
    KINDS,
    bound,
    choice,
    count,
    day,
    number,
    setting,
    shown,
    text,
)
from journey.infra.parameters import refusal as _fail
from journey.infra.settings import LOG_FORMATS, LOG_LEVELS

#: The entity references ``journey history`` takes.
ENTITY_FORMS = "customer:C1, order:O1, invoice:I1, case:K1, repair:R1 or part:P1@WH1"

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def seconds(option: str) -> Callable[[Any], float]:
    """Seconds to wait: more than 0, at most a day."""
    return number(option, 0, 86_400, "expected seconds, a number > 0 and <= 86400")


def kind(value: Any) -> str:
    """``--kind``: one of the contract's kinds (``Repair`` is ``repair``)."""
    return choice("--kind", KINDS)(value)


def entity(value: Any) -> str:
    """``journey history ENTITY``: a kind and an id, a part with its location."""
    from journey.infra.audit.history import parse_ref  # with the replays: history runs them

    try:
        parse_ref(str(value))
    except JourneyError:
        raise _fail("ENTITY", f"expected {ENTITY_FORMS}", value) from None
    return str(value)


def topic(value: Any) -> str:
    """``journey tail TOPIC``: a Kafka topic name or one of the kinds' short names."""
    if not _TOPIC.fullmatch(str(value)) or str(value) in (".", ".."):
        raise _fail("TOPIC", "expected a topic name of A-Z a-z 0-9 . _ - (at most 249)", value)
    return str(value)


def port(value: Any) -> int:
    """``--port``: a TCP port."""
    parsed = count("--port")(value) if not isinstance(value, int) else value
    if not 0 < parsed < 65_536:
        raise _fail("--port", "expected a port from 1 to 65535", value)
    return parsed


store_url = setting("--db", "db")
#: ``journey errors --contact-cost``: the check of ``JOURNEY_CONTACT_COST`` (a ``Decimal``).
contact_cost = setting("--contact-cost", "contact_cost")
bootstrap = setting("--bootstrap", "kafka_bootstrap")
log_level = choice("--log-level", LOG_LEVELS)
log_format = choice("--log-format", LOG_FORMATS)

__all__ = ["FORMATS", "KINDS", "UsageError", "bootstrap", "bound", "choice", "contact_cost",
           "count", "day", "entity", "kind", "log_format", "log_level", "number", "port",
           "seconds", "setting", "shown", "store_url", "text", "topic"]
