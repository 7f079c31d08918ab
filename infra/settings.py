"""Settings, read once from ``JOURNEY_*`` environment variables (the CLI may override)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

DEFAULT_DB = "sqlite:///journey.db"
#: Keys the audit chain's HMAC seals. Unset: a public built-in default, so seals then prove
#: nothing against anyone who can read the code (``journey audit verify`` never says ok).
AUDIT_SECRET_ENV = "JOURNEY_AUDIT_SECRET"
#: A file holding the secret (its first line), used when JOURNEY_AUDIT_SECRET is not set.
AUDIT_SECRET_FILE_ENV = "JOURNEY_AUDIT_SECRET_FILE"


def audit_secret_from(env: Mapping[str, str]) -> str | None:
    """The audit secret ``env`` configures: JOURNEY_AUDIT_SECRET, else the first line of the
    file JOURNEY_AUDIT_SECRET_FILE names; ``None`` when neither is set.

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it is empty.
    """
    if AUDIT_SECRET_ENV in env:  # set, even empty (the public default): the file is not read
        return env[AUDIT_SECRET_ENV] or None
    path = env.get(AUDIT_SECRET_FILE_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        secret = f.readline().rstrip("\r\n")
    if not secret:
        raise ValueError(f"{AUDIT_SECRET_FILE_ENV} names {path}, whose first line is empty")
    return secret


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
    #: ``None``: the store reads JOURNEY_AUDIT_SECRET or JOURNEY_AUDIT_SECRET_FILE itself.
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
