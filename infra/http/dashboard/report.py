"""``journey report``: the overview as one HTML file that needs nothing else.

The page is the dashboard's overview, rendered by the same code from the same queries, with
the stylesheet inlined and the charts as inline SVG; it links to no server page (customer ids
are plain text) and refers to nothing outside itself (its own Content-Security-Policy says
so, and a browser holds it to that), so it opens offline, from a mail attachment or a USB
stick, for people without access to the server.
"""

from __future__ import annotations

from decimal import Decimal

from journey.infra.http.dashboard.overview import OverviewFilter, overview_html
from journey.infra.http.dashboard.rendering import stylesheet
from journey.infra.settings import Settings
from journey.infra.store import JourneyApplication


def render_report(application: JourneyApplication, settings: Settings,
                  first_month: str | None = None, last_month: str | None = None,
                  contact_cost: Decimal | None = None) -> str:
    """The self-contained overview of ``application``'s views; the cost per contact is
    ``contact_cost``, else the settings' (``JOURNEY_CONTACT_COST``), else none."""
    from journey import __version__

    chosen = OverviewFilter(first_month, last_month,
                            settings.contact_cost if contact_cost is None else contact_cost)
    return overview_html(application, chosen, report=True, stylesheet=stylesheet(),
                         version=__version__, signed_in=False)
