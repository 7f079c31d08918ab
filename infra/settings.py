"""Settings, read once from ``JOURNEY_*`` environment variables (the CLI may override)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Self

DEFAULT_DB = "sqlite:///journey.db"
#: Keys the audit chain's HMAC seals. Unset: a public built-in default, so seals then prove
#: nothing against anyone who can read the code (``journey audit verify`` warns).
AUDIT_SECRET_ENV = "JOURNEY_AUDIT_SECRET"


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    batch_size: int = 2000
    cache_size: int = 50_000
    view_batch_size: int = 5000
    rebuild_worker_min: int = 50_000  # events: a rebuild of a longer log folds in a worker
    log_level: str = "info"
    log_format: str = "auto"  # auto | json | console
    kafka_bootstrap: str | None = None
    kafka_prefix: str = "journey"  # topics: journey.purchase ... journey.touchpoints.dlq
    kafka_partitions: int = 6  # of each published topic, fixed when created
    audit_secret: str | None = field(default=None, repr=False)  # never in logs
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        return cls(
            db=env.get("JOURNEY_DB") or DEFAULT_DB,
            batch_size=int(env.get("JOURNEY_BATCH_SIZE") or 2000),
            cache_size=int(env.get("JOURNEY_CACHE_SIZE") or 50_000),
            view_batch_size=int(env.get("JOURNEY_VIEW_BATCH_SIZE") or 5000),
            rebuild_worker_min=int(env.get("JOURNEY_REBUILD_WORKER_MIN") or 50_000),
            log_level=(env.get("JOURNEY_LOG_LEVEL") or "info").lower(),
            log_format=(env.get("JOURNEY_LOG_FORMAT") or "auto").lower(),
            kafka_bootstrap=env.get("JOURNEY_KAFKA_BOOTSTRAP") or None,
            kafka_prefix=env.get("JOURNEY_KAFKA_PREFIX") or "journey",
            kafka_partitions=int(env.get("JOURNEY_KAFKA_PARTITIONS") or 6),
            audit_secret=env.get(AUDIT_SECRET_ENV) or None,
        )

    def with_(self, **changes: Any) -> Self:
        """A copy with the given values; ``None`` means "not given" (keep the current one)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
