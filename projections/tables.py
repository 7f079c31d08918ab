"""The view tables, documented for analysts who query them with SQL directly.

``view_touchpoints``     one row per accepted touchpoint: timeline entries with their error code
``view_error_rates``     touchpoints and errors per kind and month
``view_error_codes``     touchpoints per error code
``view_failure_demand``  contacts and failure-demand contacts per month
``view_stock``           per (part_id, location): on_hand, reserved, backordered (+ per repair),
                         and the planning window's issued sums (window_qty, window_squares)
``view_stock_issues``    issued quantity per (part_id, location, day), for planning
``view_repairs``, ``view_fixed``, ``view_stock_meta``   bookkeeping of the folds

``available`` is ``on_hand - reserved``. A rebuild fills the same tables with the suffix
``_next`` and renames them over the live ones in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Each projection: its tracking name and its tables.
PROJECTIONS: dict[str, tuple[str, ...]] = {
    "touchpoints": ("view_touchpoints", "view_repairs", "view_fixed", "view_error_rates",
                    "view_error_codes", "view_failure_demand"),
    "stock": ("view_stock", "view_stock_issues", "view_stock_meta"),
}
#: What `journey rebuild VIEW` rebuilds: timeline and errors share one projection.
VIEW_PROJECTIONS = {"timeline": "touchpoints", "errors": "touchpoints", "stock": "stock"}


@dataclass(frozen=True)
class Tables:
    """Qualified table names for one generation (live, or ``_next`` during a rebuild)."""

    prefix: str = ""  # a schema, e.g. '"s".'
    suffix: str = ""

    def __getattr__(self, name: str) -> str:
        if name.startswith("view_"):
            return f"{self.prefix}{name}{self.suffix}"
        raise AttributeError(name)


def create_statements(t: Tables, uid: str) -> dict[str, list[str]]:
    """DDL per projection; ``uid`` keeps index names unique across generations, so run it
    once per generation of tables (index names outlive the renames of a rebuild)."""
    return {
        "touchpoints": [
            f"CREATE TABLE IF NOT EXISTS {t.view_touchpoints} ("
            "touchpoint_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, customer_id TEXT, "
            "kind TEXT NOT NULL, type TEXT NOT NULL, occurred_at TEXT NOT NULL, "
            "occurred_us BIGINT NOT NULL, month TEXT NOT NULL, entity TEXT NOT NULL, "
            "subject TEXT, upstream_error TEXT, code TEXT, serial TEXT, repair_id TEXT, "
            "demand TEXT, contact_subject TEXT, failure INTEGER)",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_timeline ON {t.view_touchpoints} "
            "(customer_id, occurred_us, seq)",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_errors ON {t.view_touchpoints} "
            "(subject, occurred_us) WHERE code IS NOT NULL",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_requests ON {t.view_touchpoints} "
            "(serial) WHERE code IS NULL AND serial IS NOT NULL",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_contacts ON {t.view_touchpoints} "
            "(contact_subject) WHERE failure = 0",
            f"CREATE TABLE IF NOT EXISTS {t.view_repairs} ("
            "repair_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, serial TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.view_fixed} ("
            "serial TEXT NOT NULL, repair_id TEXT NOT NULL, occurred_us BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_fixed ON {t.view_fixed} (serial)",
            f"CREATE TABLE IF NOT EXISTS {t.view_error_rates} (kind TEXT NOT NULL, "
            "month TEXT NOT NULL, touchpoints BIGINT NOT NULL, errors BIGINT NOT NULL, "
            "PRIMARY KEY (kind, month))",
            f"CREATE TABLE IF NOT EXISTS {t.view_error_codes} ("
            "code TEXT PRIMARY KEY, count BIGINT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.view_failure_demand} (month TEXT PRIMARY KEY, "
            "contacts BIGINT NOT NULL, failure BIGINT NOT NULL)",
        ],
        "stock": [
            f"CREATE TABLE IF NOT EXISTS {t.view_stock} (part_id TEXT NOT NULL, "
            "location TEXT NOT NULL, on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL, "
            "backordered BIGINT NOT NULL, reservations TEXT NOT NULL, backorders TEXT NOT NULL, "
            "window_qty BIGINT NOT NULL DEFAULT 0, window_squares BIGINT NOT NULL DEFAULT 0, "
            "PRIMARY KEY (part_id, location))",
            f"CREATE TABLE IF NOT EXISTS {t.view_stock_issues} (part_id TEXT NOT NULL, "
            "location TEXT NOT NULL, day TEXT NOT NULL, qty BIGINT NOT NULL, "
            "PRIMARY KEY (part_id, location, day))",
            f"CREATE INDEX IF NOT EXISTS ix_{uid}_issues_day ON {t.view_stock_issues} "
            "(day, part_id, location, qty)",  # covers the planning window's sums
            f"CREATE TABLE IF NOT EXISTS {t.view_stock_meta} ("
            "key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ],
    }
