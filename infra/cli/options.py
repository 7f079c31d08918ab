"""Every option's check, in one place: a bad value is one line, exit 2.

Each factory returns a Typer ``parser=`` for one option: it takes the text given (or the
declared default, already typed) and returns the value, or raises ``UsageError`` with
``<option>: <what is wrong> (got <value>)``. Typer runs the parsers while it reads the
command line, before the command's body, so no store is opened for a refused option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from journey.domain.errors import JourneyError, UsageError
from journey.infra.audit.history import parse_ref
from journey.infra.bounds import FORMATS, period
from journey.infra.settings import LOG_FORMATS, LOG_LEVELS, SettingsError, got
from journey.infra.settings import Settings as _Settings
from journey.schemas.touchpoint import TOUCHPOINT_TYPES

#: The kinds of contract 4: the part of a touchpoint type before the dot.
KINDS = tuple(dict.fromkeys(name.partition(".")[0] for name in TOUCHPOINT_TYPES))
#: The entity references ``journey history`` takes.
ENTITY_FORMS = "customer:C1, order:O1, invoice:I1, case:K1, repair:R1 or part:P1@WH1"

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _fail(option: str, what: str, value: object) -> UsageError:
    return UsageError(f"{option}: {what} (got {got(value)})")


def count(option: str, minimum: int = 1, what: str | None = None) -> Callable[[Any], int]:
    """A whole number >= ``minimum`` (a positive integer by default), at most 18 digits."""
    what = what or ("expected a positive integer" if minimum == 1
                    else f"expected an integer >= {minimum}")

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            number = int(value)
        else:
            raise _fail(option, what, value)
        if number < minimum:
            raise _fail(option, what, value)
        return number
    return parse


def number(option: str, low: float, high: float, what: str, *, low_open: bool = True,
           high_open: bool = False) -> Callable[[Any], float]:
    """A finite number between ``low`` and ``high`` (open or closed at either end)."""

    def parse(value: Any) -> float:
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise _fail(option, what, value) from None
        if isinstance(value, bool) or not math.isfinite(result) or (
                result < low or (low_open and result == low)) or (
                result > high or (high_open and result == high)):
            raise _fail(option, what, value)
        return result
    return parse


def seconds(option: str) -> Callable[[Any], float]:
    """Seconds to wait: more than 0, at most a day."""
    return number(option, 0, 86_400, "expected seconds, a number > 0 and <= 86400")


def choice(option: str, choices: Sequence[str]) -> Callable[[Any], str]:
    """One of ``choices`` (any case; returned in lower case)."""

    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise _fail(option, f"expected one of {', '.join(choices)}", value)
        return text
    return parse


def kind(value: Any) -> str:
    """``--kind``: one of the contract's kinds (``Repair`` is ``repair``)."""
    return choice("--kind", KINDS)(value)


def bound(option: str) -> Callable[[Any], str]:
    """A time bound (infra.bounds: month, day or instant with an offset), kept as given."""

    def parse(value: Any) -> str:
        period(str(value), option)  # raises BoundError, a UsageError
        return str(value).strip()
    return parse


def day(option: str) -> Callable[[Any], date]:
    """A calendar day, exactly ``YYYY-MM-DD`` (a date that exists)."""

    def parse(value: Any) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError(text)
            parsed = date.fromisoformat(text)
        except ValueError:
            raise _fail(option, "expected a day YYYY-MM-DD", value) from None
        return parsed
    return parse


def text(option: str, what: str = "1 to 128 characters, no line breaks",
         pattern: str = r"[^\r\n\x00]{1,128}") -> Callable[[Any], str]:
    """A non-empty identifier (a customer, part, location, group ...)."""
    form = re.compile(pattern)

    def parse(value: Any) -> str:
        if not form.fullmatch(str(value)):
            raise _fail(option, f"expected {what}", value)
        return str(value)
    return parse


def entity(value: Any) -> str:
    """``journey history ENTITY``: a kind and an id, a part with its location."""
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


def setting(option: str, field: str) -> Callable[[Any], Any]:
    """An option that overrides a setting (``--db`` ...): the setting's own check, the
    option named in the message."""

    def parse(value: Any) -> Any:
        try:
            return getattr(_Settings(**{field: value}), field)
        except SettingsError as exc:
            raise UsageError(option + ":" + str(exc).split(":", 1)[1]) from None
    return parse


store_url = setting("--db", "db")
#: ``journey errors --contact-cost``: the check of ``JOURNEY_CONTACT_COST`` (a ``Decimal``).
contact_cost = setting("--contact-cost", "contact_cost")
bootstrap = setting("--bootstrap", "kafka_bootstrap")
log_level = choice("--log-level", LOG_LEVELS)
log_format = choice("--log-format", LOG_FORMATS)

__all__ = ["FORMATS", "KINDS", "UsageError", "bootstrap", "bound", "choice", "contact_cost",
           "count", "day", "entity", "kind", "log_format", "log_level", "number", "port",
           "seconds", "setting", "store_url", "text", "topic"]
