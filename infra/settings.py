"""Settings, read once from ``JOURNEY_*`` environment variables (the CLI may override).

Every value is checked here, in one place. A bad environment value raises ``SettingsError``
naming the variable and the form it expects (``JOURNEY_BATCH_SIZE: expected a positive
integer (got "abc")``); the command line prints that line and exits 2.

``Settings`` is a plain class with a check per setting, not a pydantic model: every command
builds one first, and importing pydantic and building the model took a third of the start-up
of a query (the checks take what pydantic's lax mode took, see tests/unit/test_settings.py).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from decimal import Context, Decimal
from typing import Any, Self
from urllib.parse import urlsplit

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


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError("one of")
        return value.lower()
    return check


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


#: The roles a bearer token may hold (``journey.infra.http.access.Role``).
TOKEN_ROLES = ("writer", "analyst", "auditor", "monitor")
#: A token's name: what logs and ``journey token create`` call it (never the token itself).
TOKEN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_ENTRY = re.compile(r"(?P<name>[^:]*):(?P<roles>[^:]*):(?P<sha256>[0-9A-Fa-f]{64})")


def token_entries(value: str) -> list[tuple[str, tuple[str, ...], str]]:
    """JOURNEY_TOKENS read: ``(name, roles, sha256 hex in lower case)`` per entry. Raises
    ``ValueError`` naming the first bad entry by number (never its text: a token pasted by
    mistake must not reach an error message or a log)."""
    entries = []
    parts = value.split(",")
    for number, part in enumerate(parts, 1):
        match = _TOKEN_ENTRY.fullmatch(part.strip())
        roles = tuple(match["roles"].lower().split("+")) if match else ()
        if match is None or not TOKEN_NAME.fullmatch(match["name"]) or not roles or any(
                role not in TOKEN_ROLES for role in roles):
            raise ValueError(f"entry {number} of {len(parts)} is not of that form")
        entries.append((match["name"], roles, match["sha256"].lower()))
    return entries


def _tokens(value: str | None) -> str | None:
    if value is not None:
        token_entries(value)
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


def _text(value: Any) -> str:
    """Text: a ``str`` (an enum member's value) or UTF-8 bytes; nothing else is text."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()  # UnicodeDecodeError is a ValueError
    raise ValueError("Input should be a valid string")


def _text_then(*checks: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Text, then each check in turn."""
    def check(value: Any) -> Any:
        value = _text(value)
        for then in checks:
            value = then(value)
        return value
    return check


def _or_none(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _count(minimum: int) -> Callable[[Any], int]:
    """A whole number >= ``minimum``: digits (``_whole``), an int, a Decimal without a
    fraction, or a float without one (within 64 bits)."""
    def check(value: Any) -> int:
        value = _whole(value)
        if isinstance(value, int | str | bytes):
            number = int(value)  # text: the digits _whole let through
        elif isinstance(value, float | Decimal) and math.isfinite(value) and \
                value == int(value) and (isinstance(value, Decimal) or abs(value) < 2**63):
            number = int(value)
        else:
            raise ValueError("a whole number")
        if number < minimum:
            raise ValueError("too small")
        return number
    return check


def _seconds(value: Any) -> float:
    """Seconds, a finite number >= 0 (text as ``float`` reads it, ASCII within spaces)."""
    if isinstance(value, str):
        value = value.strip()
    if isinstance(_no_bool(value), int | float | str | bytes | Decimal) and (
            not isinstance(value, str) or value.isascii()):
        seconds = float(value)
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    raise ValueError("seconds")


def _extra(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("Input should be a valid dictionary")
    return {_text(key): _text(text) for key, text in value.items()}

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
    "tokens_file": ("JOURNEY_TOKENS_FILE",
                    "the path of a tokens file (journey token create writes one)"),
    "tokens": ("JOURNEY_TOKENS", "NAME:ROLE[+ROLE...]:SHA256 entries separated by commas "
               "(roles: writer, analyst, auditor, monitor; SHA256: the 64 hex digits of the "
               "token's hash that journey token create prints)"),
    "http_max_body": ("JOURNEY_HTTP_MAX_BODY",
                      "a positive integer, the largest intake body in bytes"),
}


#: Each setting's check, in the order the errors are reported: the value given -> the value
#: kept, or ``ValueError``. The defaults are ``Settings``' class attributes.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "db": _text_then(_store_url),
    "batch_size": _count(1),
    "cache_size": _count(0),
    "view_batch_size": _count(1),
    "rebuild_worker_min": _count(0),
    "log_level": _text_then(_choice(LOG_LEVELS)),
    "log_format": _text_then(_choice(LOG_FORMATS)),
    "kafka_bootstrap": _or_none(_text_then(_bootstrap)),
    "kafka_prefix": _text_then(_prefix),
    "kafka_partitions": _count(1),
    "max_outage": _seconds,
    "audit_secret": _or_none(_text_then(_one_line)),
    "audit_secret_file": _or_none(_text_then(_one_line)),
    "contact_cost": _cost,
    "tokens_file": _or_none(_text_then(_one_line)),
    "tokens": _or_none(_text_then(_one_line, _tokens)),
    "http_max_body": _count(1),
    "extra": _extra,
}
#: Each setting's value when it is not given.
_DEFAULTS: dict[str, Any] = {
    "db": DEFAULT_DB,
    "batch_size": 2000,
    "cache_size": 50_000,
    "view_batch_size": 5000,
    "rebuild_worker_min": 50_000,
    "log_level": "info",
    "log_format": "auto",
    "kafka_bootstrap": None,
    "kafka_prefix": "journey",
    "kafka_partitions": 6,
    "max_outage": 900.0,
    "audit_secret": None,
    "audit_secret_file": None,
    "contact_cost": None,
    "tokens_file": None,
    "tokens": None,
    "http_max_body": 16 << 20,
    "extra": {},  # copied for each Settings
}
#: Never in a repr (nor so in logs).
_HIDDEN = ("audit_secret", "tokens")


class Settings:
    """Every ``JOURNEY_*`` setting of the engine, validated (see ``VARIABLES``); read-only
    (``with_`` makes a changed copy)."""

    __slots__ = tuple(_CHECKS)

    db: str
    batch_size: int
    cache_size: int  # 0: no cache
    view_batch_size: int
    rebuild_worker_min: int  # events: a rebuild of a longer log folds in a worker
    log_level: str
    log_format: str  # auto | json | console
    kafka_bootstrap: str | None
    kafka_prefix: str  # journey.purchase ...
    kafka_partitions: int  # of each published topic, fixed when created
    #: Seconds a follower keeps retrying a database or broker that went away (0: forever).
    max_outage: float
    #: ``None``: the store reads JOURNEY_AUDIT_SECRET or JOURNEY_AUDIT_SECRET_FILE itself.
    audit_secret: str | None  # never in logs
    #: The file ``from_env`` read ``audit_secret`` from (JOURNEY_AUDIT_SECRET unset).
    audit_secret_file: str | None
    #: What one contact costs (contract 4.7): ``journey errors`` adds the cost of failure
    #: demand with it (``--contact-cost`` wins); ``None``: no cost column.
    contact_cost: Decimal | None
    #: ``journey serve``'s bearer tokens, hashed (``journey.infra.http.access``): a file of
    #: them, and/or entries inline. None of either: the server is open, on loopback only.
    tokens_file: str | None
    tokens: str | None  # never in logs
    #: The largest body ``POST /v1/touchpoints`` takes (413 beyond it).
    http_max_body: int
    extra: dict[str, str]

    def __init__(self, **values: Any) -> None:
        for name, check in _CHECKS.items():
            if name not in values:
                value = dict(_DEFAULTS["extra"]) if name == "extra" else _DEFAULTS[name]
            else:
                try:
                    value = check(values[name])
                except ValueError as exc:
                    raise _settings_error(name, exc, values) from None
            object.__setattr__(self, name, value)
        for name in values:
            if name not in _CHECKS:
                raise SettingsError(f"{name}: Extra inputs are not permitted")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are read-only (with_({name}=...) makes a changed copy)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _CHECKS)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and holds a dict

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in _CHECKS if name not in _HIDDEN)
        return f"Settings({', '.join(shown)})"

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
        return type(self)(**({name: getattr(self, name) for name in _CHECKS} | given))

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


def _settings_error(name: str, cause: ValueError, values: Mapping[str, Any]) -> SettingsError:
    """One line naming the (first) bad variable, the form it expects and the value given."""
    if name not in VARIABLES:
        return SettingsError(f"{name}: {cause}")
    variable, form = VARIABLES[name]
    value = values.get(name)
    if name == "tokens":  # a raw token pasted by mistake is not repeated anywhere
        entry = str(cause).startswith("entry")
        shown = (f"{cause}; " if entry else "") + "the value is not shown"
    elif name == "audit_secret":
        shown = "the value is not shown"
    else:
        shown = f"got {got(_redact(value))}"
    return SettingsError(f"{variable}: expected {form} ({shown})")


def _redact(value: object) -> object:
    """A URL's password hidden (``user:***@``), anything else as it is."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", value) if isinstance(value, str) else value


def max_outage_from(env: Mapping[str, str] | None = None) -> float | None:
    """JOURNEY_MAX_OUTAGE of ``env`` (default ``os.environ``) as ``Backoff`` takes it:
    seconds, ``None`` for 0 (never give up); 900 when unset. The same check as ``Settings``."""
    value = (os.environ if env is None else env).get(MAX_OUTAGE_ENV)
    return Settings(**({"max_outage": value} if value else {})).give_up_after
