"""The checks of what people type as filters, shared by every door: the command line's
options (``journey.infra.cli.options``) and the HTTP API's query parameters
(``journey.infra.http.api``).

Each factory takes the name the door shows (``--top`` on the command line, ``top`` in a
query string) and returns a parser: it takes the text given (or a value already typed) and
returns the value, or raises ``UsageError`` with ``<name>: <what is wrong> (got <value>)``
(the command line exits 2 with that line, the API answers 400 with it as ``detail``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from journey.domain.errors import UsageError
from journey.infra.bounds import check_range, period
from journey.infra.settings import Settings, SettingsError, got

#: The kinds of contract 4: the part of a touchpoint type before the dot, in the models'
#: order. Written out so that registering the options builds no touchpoint model (start-up
#: time); tests/unit/test_startup.py checks them against ``schemas.touchpoint``.
KINDS = ("purchase", "invoice", "complaint", "repair", "part")

P = TypeVar("P", bound=Callable[..., Any])


def shown(parse: P, kind: str) -> P:
    """``parse`` named as its value's kind: the command line's help shows a parser's name
    (``--top <int>``), and every parser here is a closure called ``parse``."""
    parse.__name__ = kind
    return parse


def refusal(name: str, what: str, value: object) -> UsageError:
    """``<name>: <what> (got <value>)``, the one form of every refused value."""
    return UsageError(f"{name}: {what} (got {got(value)})")


def count(name: str, minimum: int = 1, what: str | None = None) -> Callable[[Any], int]:
    """A whole number >= ``minimum`` (a positive integer by default), at most 18 digits."""
    what = what or ("expected a positive integer" if minimum == 1
                    else f"expected an integer >= {minimum}")

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            number = int(value)
        else:
            raise refusal(name, what, value)
        if number < minimum:
            raise refusal(name, what, value)
        return number
    return shown(parse, "int")


def number(name: str, low: float, high: float, what: str, *, low_open: bool = True,
           high_open: bool = False) -> Callable[[Any], float]:
    """A finite number between ``low`` and ``high`` (open or closed at either end)."""

    def parse(value: Any) -> float:
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise refusal(name, what, value) from None
        if isinstance(value, bool) or not math.isfinite(result) or (
                result < low or (low_open and result == low)) or (
                result > high or (high_open and result == high)):
            raise refusal(name, what, value)
        return result
    return shown(parse, "float")


def choice(name: str, choices: Sequence[str]) -> Callable[[Any], str]:
    """One of ``choices`` (any case; returned in lower case)."""

    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise refusal(name, f"expected one of {', '.join(choices)}", value)
        return text
    return shown(parse, "str")


def flag(name: str) -> Callable[[Any], bool]:
    """A yes-or-no query parameter: true or false (also 1/0, yes/no, on/off; any case)."""

    def parse(value: Any) -> bool:
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise refusal(name, "expected true or false", value)
    return shown(parse, "bool")


def bound(name: str) -> Callable[[Any], str]:
    """A time bound (``infra.bounds``: month, day or instant with an offset), kept as given."""

    def parse(value: Any) -> str:
        period(str(value), name)  # raises BoundError, a UsageError
        return str(value).strip()
    return shown(parse, "str")


def day(name: str) -> Callable[[Any], date]:
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
            raise refusal(name, "expected a day YYYY-MM-DD", value) from None
        return parsed
    return shown(parse, "date")


def text(name: str, what: str = "1 to 128 characters, no line breaks",
         pattern: str = r"[^\r\n\x00]{1,128}") -> Callable[[Any], str]:
    """A non-empty identifier (a customer, part, location, group ...)."""
    form = re.compile(pattern)

    def parse(value: Any) -> str:
        if not form.fullmatch(str(value)):
            raise refusal(name, f"expected {what}", value)
        return str(value)
    return shown(parse, "str")


def setting(name: str, field: str) -> Callable[[Any], Any]:
    """A value that overrides a setting (``--db``, ``contact_cost`` ...): the setting's own
    check, ``name`` named in the message."""

    def parse(value: Any) -> Any:
        try:
            return getattr(Settings(**{field: value}), field)
        except SettingsError as exc:
            raise UsageError(name + ":" + str(exc).split(":", 1)[1]) from None
    return shown(parse, "str")


def month_range(first: str | None, last: str | None, first_name: str = "--from",
                last_name: str = "--to") -> tuple[str | None, str | None]:
    """``from`` and ``to`` bounds as the first and last month they name (``YYYY-MM``; a
    reversed range is refused)."""
    check_range(first, last, first_name, last_name)
    return (None if first is None else period(first, first_name).first_month,
            None if last is None else period(last, last_name).last_month)
