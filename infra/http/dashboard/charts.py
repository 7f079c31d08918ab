"""The dashboard's charts: pygal draws each one on the server as SVG, inlined in the page.

No script reaches the browser and nothing is fetched: pygal's default configuration loads a
tooltip script from a CDN (``js``) and embeds its configuration in a ``<script>``; here
``js=[]`` and ``_accessible`` removes every script (and pygal's comments, which name its web
site), so a chart opens offline and under a policy that allows no script at all. Each point
gets an SVG ``<title>`` instead (the browser's own tooltip: "repair, 2026-03: 4.2 %"), and
the chart a ``<title>`` that names it for screen readers; each page shows the chart's
figures in a table beside it. Text in the SVG is escaped by the XML serializer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from math import ceil
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from journey.infra.http.dashboard.rendering import kind_colour

#: The chart colours (colour-blind safe, after Okabe and Ito), in series order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F")
#: What went wrong (failure demand, ratings after an error, reorders), and the rest.
FAILURE, NEUTRAL = "#D55E00", "#A3B1C2"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


def _style(colours: Sequence[str] = PALETTE) -> Style:
    """The house look, with the series in ``colours``."""
    return Style(
        background="transparent", plot_background="transparent",
        foreground="#334155", foreground_strong="#0f172a", foreground_subtle="#cbd5e1",
        font_family=FONT, label_font_size=13, major_label_font_size=13, legend_font_size=14,
        value_font_size=12, tooltip_font_size=13, no_data_font_size=20,
        guide_stroke_color="#e2e8f0", major_guide_stroke_color="#e2e8f0",
        guide_stroke_dasharray="0", major_guide_stroke_dasharray="0",
        opacity=".9", opacity_hover="1", stroke_opacity="1", stroke_opacity_hover="1",
        stroke_width="2.5", stroke_width_hover="3.5", transition="0ms",
        colors=tuple(colours))


def percent(value: float | None) -> str:
    """A rate (a fraction) as the charts print it: ``0.0421`` is ``4.2 %``."""
    return "" if value is None else f"{value * 100:.1f} %"


def _plain(value: float | None) -> str:
    return "" if value is None else f"{value:,.10g}"


def _whole(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _counted(chart: Any, values: Iterable[Iterable[float | None]]) -> Any:
    """A chart of counts: its axis in whole numbers (pygal would step 0.1 up to 1)."""
    top = max((sum(v or 0 for v in column) for column in zip(*values, strict=True)),
              default=0)
    if top <= 10:
        chart.y_labels = list(range(0, int(top) + 2))
    return chart


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


def _accessible(title: str, series: Sequence[str]) -> Callable[[Any], Any]:
    """An XML filter for pygal: no script and no comment; a ``<title>`` for the chart (its
    accessible name, with ``role="img"``) and for each point (hover: series, label, value)."""

    def apply(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                if not isinstance(child.tag, str) or _local(child.tag) == "script" or (
                        parent is root and _local(child.tag) == "title"):
                    parent.remove(child)  # a comment's tag is a function, not a name
        for group in root.iter():
            classes = str(group.get("class", "")).split()
            if _local(group.tag) != "g" or "series" not in classes:
                continue
            name = next((series[int(c[6:])] for c in classes
                         if c.startswith("serie-") and c[6:].isdigit()
                         and int(c[6:]) < len(series)), "")
            for point in group.iter():
                descs = {str(d.get("class")): d.text or "" for d in point
                         if _local(d.tag) == "desc"}
                if "value" in descs:
                    words = ", ".join(w for w in (name, descs.get("x_label", "")) if w)
                    tip = root.makeelement("title", {})
                    tip.text = f"{words}: {descs['value']}" if words else descs["value"]
                    point.insert(0, tip)
        label = root.makeelement("title", {})
        label.text = title
        root.insert(0, label)
        root.set("role", "img")
        root.set("aria-label", title)
        return root
    return apply


def _render(chart: Any, title: str, series: Sequence[str]) -> Markup:
    chart.xml_filters = [_accessible(title, series)]
    svg: str = chart.render(is_unicode=True)
    return Markup(svg)  # safe to inline: the XML serializer escaped every text in it


def _make(kind: Callable[..., Any], *, width: int = 560, height: int = 300,
          formatter: Callable[[Any], str] = _plain, labels: Sequence[str] = (),
          **config: Any) -> Any:
    """A chart of ``kind`` with the house look, drawn at about the size it is shown (so
    its text reads at the page's size); labels that would overlap are thinned (each point
    keeps its label in its tooltip)."""
    every = max(1, ceil(len(labels) / max(1, width // 90)))
    options: dict[str, Any] = dict(
        js=[], disable_xml_declaration=True, style=_style(), width=width, height=height,
        legend_at_bottom=True, legend_at_bottom_columns=4, truncate_legend=-1,
        truncate_label=-1, show_x_guides=False, show_y_guides=True, margin=8, spacing=12,
        value_formatter=formatter, dots_size=3.5, no_data_text="no data yet",
        x_labels_major_every=every if every > 1 else None, show_minor_x_labels=every == 1,
        rounded_bars=2)
    options.update(config)
    chart = kind(**options)
    chart.x_labels = list(labels)
    return chart


def _series(rows: Iterable[Mapping[str, Any]], key: str, months: Sequence[str],
            value: str) -> dict[str, list[Any]]:
    """Rows of (``key``, month, ``value``) as one list per ``key`` over ``months``
    (``None`` where a month has no row: the line breaks rather than drops to zero)."""
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        table.setdefault(row[key], {})[row["month"]] = row[value]
    return {name: [by_month.get(m) for m in months] for name, by_month in sorted(table.items())}


def error_rates(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Error rate per kind over the months (contract 4): one line per kind."""
    months = sorted({row["month"] for row in rows})
    lines = _series(rows, "kind", months, "error_rate")
    chart = _make(pygal.Line, labels=months, formatter=percent, allow_interruptions=True,
                  legend_at_bottom_columns=len(lines) or 1, min_scale=4, max_scale=8,
                  width=660, height=330, style=_style([kind_colour(kind) for kind in lines]))
    for name, values in lines.items():
        chart.add(name, values)
    return _render(chart, "Error rate per kind and month", list(lines))


def errors_by_code(rows: Sequence[Mapping[str, Any]], top: int = 12) -> Markup:
    """The most frequent error codes, the largest on top."""
    biggest = sorted(rows, key=lambda row: (-row["count"], row["code"]))[:top]
    chart = _make(pygal.HorizontalBar, labels=[r["code"] for r in reversed(biggest)],
                  show_legend=False, formatter=_whole, width=440,
                  height=max(200, 26 * len(biggest) + 50),
                  show_x_guides=True, show_y_guides=False, print_values=True,
                  print_values_position="top", x_labels_major_every=None,
                  show_minor_x_labels=True)
    counts = [r["count"] for r in reversed(biggest)]
    _counted(chart, [counts])
    chart.add("errors", counts)
    return _render(chart, f"The {len(biggest)} most frequent error codes", ["errors"])


def failure_demand(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Contacts per month, split into failure demand and the rest."""
    months = [row["month"] for row in rows]
    chart = _make(pygal.StackedBar, labels=months, legend_at_bottom_columns=2,
                  formatter=_whole, style=_style((FAILURE, NEUTRAL)))
    failure = [row["failure"] for row in rows]
    other = [row["contacts"] - row["failure"] for row in rows]
    _counted(chart, [failure, other])
    chart.add("failure demand", failure)
    chart.add("other contacts", other)
    return _render(chart, "Contacts per month: failure demand and other contacts",
                   ["failure demand", "other contacts"])


def service_rates(kpis: Mapping[str, Any]) -> Markup:
    """First-time fix rate, fill rate and reopen rate per month (contract 4.6)."""
    lines = {"first-time fix rate": {r["month"]: r["first_time_fix_rate"] for r in kpis["repairs"]},
             "fill rate": {r["month"]: r["fill_rate"] for r in kpis["parts"]},
             "case reopen rate": {r["month"]: r["reopen_rate"] for r in kpis["cases"]}}
    months = sorted({month for line in lines.values() for month in line})
    chart = _make(pygal.Line, labels=months, formatter=percent, allow_interruptions=True,
                  legend_at_bottom_columns=3, range=(0, 1), min_scale=5, max_scale=5,
                  style=_style((PALETTE[0], PALETTE[2], FAILURE)))
    for name, by_month in lines.items():
        chart.add(name, [by_month.get(m) for m in months])
    return _render(chart, "First-time fix rate, fill rate and case reopen rate per month",
                   list(lines))


def resolve_hours(cases: Sequence[Mapping[str, Any]]) -> Markup:
    """Hours to resolve a case, median and 90th percentile, per month opened."""
    months = [row["month"] for row in cases]
    chart = _make(pygal.Bar, labels=months, legend_at_bottom_columns=2,
                  formatter=lambda v: "" if v is None else f"{v:,.0f} h",
                  style=_style((PALETTE[0], PALETTE[5])))
    chart.add("median (p50)", [row["hours_to_resolve_p50"] for row in cases])
    chart.add("p90", [row["hours_to_resolve_p90"] for row in cases])
    return _render(chart, "Hours to resolve a case per month opened", ["median (p50)", "p90"])


def satisfaction(groups: Mapping[str, Mapping[str, Any]]) -> Markup:
    """The share of each score 1-5 after a service error and without one."""
    names = {"after_error": "after a service error", "no_error": "no error before"}
    chart = _make(pygal.Bar, labels=[f"score {s}" for s in "12345"], formatter=percent,
                  legend_at_bottom_columns=2, style=_style((FAILURE, PALETTE[0])))
    for key, name in names.items():
        group = groups[key]
        ratings = group["ratings"]
        chart.add(name, [group["by_score"][s] / ratings if ratings else None for s in "12345"])
    return _render(chart, "Satisfaction scores after a service error and without one",
                   list(names.values()))


def location_totals(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per location (sorted): the pairs, those to reorder, and the units available (none
    below zero), reserved and backordered."""
    totals: dict[str, dict[str, Any]] = {}
    for item in items:
        sums = totals.setdefault(item["location"], {
            "location": item["location"], "pairs": 0, "reorder": 0, "available": 0,
            "reserved": 0, "backordered": 0})
        sums["pairs"] += 1
        sums["reorder"] += bool(item.get("needs_reorder"))
        sums["available"] += max(item["available"], 0)
        sums["reserved"] += item["reserved"]
        sums["backordered"] += item["backordered"]
    return [totals[location] for location in sorted(totals)]


def reorder_by_location(totals: Sequence[Mapping[str, Any]]) -> Markup:
    """Per location (``location_totals``): the pairs to reorder and the others."""
    chart = _make(pygal.StackedBar, labels=[row["location"] for row in totals],
                  legend_at_bottom_columns=2, width=1150, height=280, formatter=_whole,
                  style=_style((FAILURE, PALETTE[0])))
    names = ("to reorder", "enough stock")
    reorder = [row["reorder"] for row in totals]
    enough = [row["pairs"] - row["reorder"] for row in totals]
    _counted(chart, [reorder, enough])
    chart.add(names[0], reorder)
    chart.add(names[1], enough)
    return _render(chart, "Part and location pairs per location: to reorder and with "
                   "enough stock", list(names))
