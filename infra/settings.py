"""Settings, read once from ``JOURNEY_*`` environment variables (the CLI may override).

``Settings`` is a pydantic model: every value is checked here, in one place. A bad
environment value raises ``SettingsError`` naming the variable and the form it expects
(``JOURNEY_BATCH_SIZE: expected a positive integer (got "abc")``); the command line prints
that line and exits 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from decimal import Context, Decimal
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

DEFAULT_DB = "sqlite:///journey.db"
#: Keys the audit chain's HMAC seals. Unset: a public built-in default, so seals then prove
#: nothing against anyone who can read the code (``journey audit verify`` never says ok).
AUDIT_SECRET_ENV = "JOURNEY_AUDIT_SECRET"
#: A file holding the secret (its first line), used when JOURNEY_AUDIT_SECRET is not set.
AUDIT_SECRET_FILE_ENV = "JOURNEY_AUDIT_SECRET_FILE"
MAX_OUTAGE_ENV = "JOURNEY_MAX_OUTAGE"

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")


class SettingsError(ValueError):
    """A ``JOURNEY_*`` variable (or a value given for it) that is not of the expected form."""


def got(value: object) -> str:
    """A value as error messages quote it: ``"abc"`` (one line, control characters escaped)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


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


# --- the forms of the values: each check raises ValueError with the expected form -----------

_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?")
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _store_url(value: str) -> str:
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if value.startswith(("postgresql://", "postgres://")):
        try:
            urlsplit(value).port  # noqa: B018 -- raises on a port that is no port
        except ValueError:  # "abc", 99999, an unclosed [IPv6 address
            raise ValueError("a store URL") from None
        return value
    raise ValueError("a store URL")


def _choice(choices: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError("one of")
        return value.lower()
    return AfterValidator(check)


def _bootstrap(value: str | None) -> str | None:
    if value is None:
        return None
    for server in value.split(","):
        match = _HOST_PORT.fullmatch(server.strip())
        if match is None or (match[1] is not None and not 0 < int(match[1]) < 65536):
            raise ValueError("host:port")
    return value


def _prefix(value: str) -> str:
    if not _TOPIC_PREFIX.fullmatch(value):
        raise ValueError("a topic prefix")
    return value


def _one_line(value: str | None) -> str | None:
    if value is not None and ("\n" in value or "\r" in value or "\0" in value):
        raise ValueError("one line")
    return value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # True is not a count
        raise ValueError("a number")
    return value


def _whole(value: Any) -> Any:
    """Text must be plain ASCII digits (``"2.0"``, ``"1_000"``, ``"٣"`` are refused)."""
    if isinstance(value, str) and not re.fullmatch(r"\s*\+?[0-9]{1,18}\s*", value):
        raise ValueError("a whole number")
    return _no_bool(value)


_COST = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_CENT = Decimal("0.01")


def _cost(value: Any) -> Decimal | None:
    """A cost per contact (contract 4.7): a decimal >= 0 with at most 2 decimals, counted on
    the value (``12.5``, ``12.50`` and ``12.500`` are the same), below 10^26 as money is.
    Text is plain decimal notation (no sign, exponent, ``nan`` or ``inf``); a ``Decimal`` or an
    ``int`` from Python passes the same checks; a float or a boolean never does (money is never
    binary). Returned with exactly 2 decimals."""
    if value is None:
        return None
    if isinstance(value, str) and _COST.fullmatch(value.strip()):
        amount = Decimal(value.strip())
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        raise ValueError("a cost")
    if not amount.is_finite() or amount < 0 or (amount and amount.adjusted() > 25):
        raise ValueError("a cost")
    exact = Context(prec=60)
    if amount.quantize(_CENT, context=exact) != amount:
        raise ValueError("a cost")  # a third decimal that is not 0
    return amount.quantize(_CENT, context=exact).copy_abs()  # -0 (a Decimal) is 0.00


Count = Annotated[int, BeforeValidator(_whole), Field(gt=0)]
#: A count where 0 means "none" (no cache) or "always" (a rebuild always in a worker).
Cardinal = Annotated[int, BeforeValidator(_whole), Field(ge=0)]
Seconds = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)]

#: Each setting: its variable and the form it expects (for the error message).
VARIABLES: dict[str, tuple[str, str]] = {
    "db": ("JOURNEY_DB", "a store URL sqlite:///PATH or postgresql://..."),
    "batch_size": ("JOURNEY_BATCH_SIZE", "a positive integer"),
    "cache_size": ("JOURNEY_CACHE_SIZE", "an integer >= 0 (0: no cache)"),
    "view_batch_size": ("JOURNEY_VIEW_BATCH_SIZE", "a positive integer"),
    "rebuild_worker_min": ("JOURNEY_REBUILD_WORKER_MIN",
                           "an integer >= 0 (events; 0: always in a worker)"),
    "log_level": ("JOURNEY_LOG_LEVEL", "one of " + ", ".join(LOG_LEVELS)),
    "log_format": ("JOURNEY_LOG_FORMAT", "one of " + ", ".join(LOG_FORMATS)),
    "kafka_bootstrap": ("JOURNEY_KAFKA_BOOTSTRAP", "host:port[,host:port...]"),
    "kafka_prefix": ("JOURNEY_KAFKA_PREFIX",
                     "1 to 200 characters of A-Z a-z 0-9 . _ - (a Kafka topic name)"),
    "kafka_partitions": ("JOURNEY_KAFKA_PARTITIONS", "a positive integer"),
    "max_outage": (MAX_OUTAGE_ENV, "seconds, a number >= 0 (0: retry forever)"),
    "audit_secret": (AUDIT_SECRET_ENV, "one line of text"),
    "audit_secret_file": (AUDIT_SECRET_FILE_ENV,
                          "the path of a readable file whose first line is the secret"),
    "contact_cost": ("JOURNEY_CONTACT_COST",
                     "a cost per contact, a decimal >= 0 with at most 2 decimals (e.g. 12.50)"),
}


class Settings(BaseModel):
    """Every ``JOURNEY_*`` setting of the engine, validated (see ``VARIABLES``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    db: Annotated[str, AfterValidator(_store_url)] = DEFAULT_DB
    batch_size: Count = 2000
    cache_size: Cardinal = 50_000
    view_batch_size: Count = 5000
    rebuild_worker_min: Cardinal = 50_000  # events: a rebuild of a longer log folds in a worker
    log_level: Annotated[str, _choice(LOG_LEVELS)] = "info"
    log_format: Annotated[str, _choice(LOG_FORMATS)] = "auto"  # auto | json | console
    kafka_bootstrap: Annotated[str | None, AfterValidator(_bootstrap)] = None
    kafka_prefix: Annotated[str, AfterValidator(_prefix)] = "journey"  # journey.purchase ...
    kafka_partitions: Count = 6  # of each published topic, fixed when created
    #: Seconds a follower keeps retrying a database or broker that went away (0: forever).
    max_outage: Seconds = 900.0
    #: ``None``: the store reads JOURNEY_AUDIT_SECRET or JOURNEY_AUDIT_SECRET_FILE itself.
    audit_secret: Annotated[str | None, AfterValidator(_one_line),
                            Field(repr=False)] = None  # never in logs
    #: The file ``from_env`` read ``audit_secret`` from (JOURNEY_AUDIT_SECRET unset).
    audit_secret_file: Annotated[str | None, AfterValidator(_one_line)] = None
    #: What one contact costs (contract 4.7): ``journey errors`` adds the cost of failure
    #: demand with it (``--contact-cost`` wins); ``None``: no cost column.
    contact_cost: Annotated[Decimal | None, BeforeValidator(_cost)] = None
    extra: dict[str, str] = Field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _settings_error(exc, values) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings of ``environ`` (default ``os.environ``); unset or empty: the default."""
        env = os.environ if environ is None else environ
        values: dict[str, str | None] = {
            name: env[variable] for name, (variable, _) in VARIABLES.items() if env.get(variable)}
        if AUDIT_SECRET_ENV not in env and env.get(AUDIT_SECRET_FILE_ENV):
            values["audit_secret"] = _secret_from_file(env)  # read once, refused before use
        return cls(**values)

    def with_(self, **changes: Any) -> Self:
        """A copy with the given values, validated; ``None`` means "not given" (keep the
        current one)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            return self
        return type(self)(**(self.model_dump() | given))

    @property
    def give_up_after(self) -> float | None:
        """``max_outage`` as ``Backoff`` takes it: ``None`` for 0 (never give up)."""
        return self.max_outage if self.max_outage > 0 else None


def _secret_from_file(env: Mapping[str, str]) -> str | None:
    path = env[AUDIT_SECRET_FILE_ENV]
    try:
        return audit_secret_from(env)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    except ValueError:
        problem = "its first line is empty"
    raise SettingsError(f"{AUDIT_SECRET_FILE_ENV}: expected a readable file whose first line "
                        f"is the audit secret: {problem} (got {got(path)})")


def _settings_error(exc: ValidationError, values: Mapping[str, Any]) -> SettingsError:
    """One line naming the (first) bad variable, the form it expects and the value given."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    if name not in VARIABLES:
        return SettingsError(f"{name or 'settings'}: {error['msg']}")
    variable, form = VARIABLES[name]
    value = values.get(name)
    shown = "the value is not shown" if name == "audit_secret" else f"got {got(_redact(value))}"
    return SettingsError(f"{variable}: expected {form} ({shown})")


def _redact(value: object) -> object:
    """A URL's password hidden (``user:***@``), anything else as it is."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", value) if isinstance(value, str) else value


def max_outage_from(env: Mapping[str, str] | None = None) -> float | None:
    """JOURNEY_MAX_OUTAGE of ``env`` (default ``os.environ``) as ``Backoff`` takes it:
    seconds, ``None`` for 0 (never give up); 900 when unset. The same check as ``Settings``."""
    value = (os.environ if env is None else env).get(MAX_OUTAGE_ENV)
    return Settings(**({"max_outage": value} if value else {})).give_up_after
