"""The dashboard's HTML: jinja2 templates, every value escaped, and how figures read.

Autoescape is on for every template and undefined names fail loudly, so a customer id that
holds ``<script>`` prints as text and a template typo is an error, not a blank. Figures
print the way the command line's tables print them: rates as percentages, money exact with
2 decimals, an empty figure (null in the JSON) as an en dash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).parent
STATIC = HERE / "static"
NONE = "\N{EN DASH}"  # a figure of an empty set
#: The colour of each kind (contract 4), in the charts and on the timeline alike.
KIND_COLOURS = {"purchase": "#0072B2", "invoice": "#E69F00", "complaint": "#CC79A7",
                "repair": "#D55E00", "part": "#009E73"}
OTHER_COLOUR = "#7F7F7F"


def rate(value: float | None, digits: int = 1) -> str:
    """``0.04213`` as ``4.2 %``."""
    return NONE if value is None else f"{value * 100:.{digits}f} %"


def count(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def number(value: float | None, digits: int = 1) -> str:
    return NONE if value is None else f"{value:,.{digits}f}"


def money(value: str | None) -> str:
    """An exact amount (``"3171.90"``) with thousands separators (``3,171.90``)."""
    if value is None:
        return NONE
    try:
        return f"{Decimal(value):,.2f}"
    except InvalidOperation:
        return str(value)


def when(instant: str | None) -> str:
    """``2026-03-01T10:00:00Z`` as ``2026-03-01 10:00:00`` (the pages say UTC)."""
    return NONE if instant is None else instant.replace("T", " ").removesuffix("Z")


def segment(value: str) -> str:
    """A value as one URL path segment (``/`` and everything else escaped)."""
    return quote(value, safe="")


def kind_colour(kind_or_type: str) -> str:
    """The colour of a kind, or of a touchpoint type's kind (``repair.completed``)."""
    return KIND_COLOURS.get(kind_or_type.partition(".")[0], OTHER_COLOUR)


@cache
def environment() -> Environment:
    """The templates, loaded once per process."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(rate=rate, count=count, number=number, money=money, when=when,
                       segment=segment)
    env.globals.update(kind_colour=kind_colour, NONE=NONE)
    return env


@cache
def stylesheet() -> Markup:
    """The dashboard's CSS, for a page that must carry its own (``journey report``)."""
    css = (STATIC / "dashboard.css").read_text(encoding="utf-8")
    return Markup(css)  # our own file, never data (escaping would break "a > b" selectors)


def render(template: str, **context: Any) -> str:
    """A page: ``template`` with ``context`` (and the time it was made, UTC)."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return environment().get_template(template).render(made=made, **context)
