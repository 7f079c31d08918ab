"""What can go wrong with the event store."""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable

from eventsourcing.persistence import IntegrityError

from journey.domain.errors import JourneyError
from journey.infra.settings import max_outage_from


class StoreError(JourneyError):
    """The event store cannot be reached or used."""


class PositionConflict(IntegrityError, StoreError):
    """Another writer appended to the log after this batch was decided."""


class LeaseHeld(StoreError):
    """Another process holds the lease (e.g. another relay is publishing)."""


class AuditChainError(StoreError):
    """The audit chain cannot be extended: it is ahead of the log (rows were deleted)."""


class AuditKeyMismatch(StoreError):
    """The configured audit secret is not the key this store's seals are made with."""


class StoreMissing(StoreError):
    """No store where the URL points (no SQLite file, no such PostgreSQL database, or a
    schema without the engine's tables): readers never create one, writers create all but
    a PostgreSQL database."""


class LoginRefused(StoreError):
    """PostgreSQL refused the login: no such role, a wrong password, no pg_hba.conf entry."""


# --- operational failures: the database went away, filled up or stayed locked ---------------
#
# Not bugs and not bad input: the CLI names them in one line (exit 75, EX_TEMPFAIL) and the
# followers (``project --follow``, ``publish --follow``, ``consume --follow``) wait them out.

#: What each kind of operational failure is called in the CLI's one-line message.
OPERATIONAL_KINDS = {
    "unreachable": "the database is unreachable",
    "disk_full": "the disk is full",
    "locked": "the database stayed locked too long",
}

#: PostgreSQL's SQLSTATEs (codes, or classes of two characters) that are operational; any
#: other server error (a deadlock, a statement timeout, a value too large for an index) is not.
_SQLSTATE_KINDS = {
    "08": "unreachable",       # connection exceptions
    "57P01": "unreachable",    # admin shutdown
    "57P02": "unreachable",    # crash shutdown
    "57P03": "unreachable",    # cannot connect now (starting up, shutting down)
    "53100": "disk_full",
    "55P03": "locked",         # lock not available (lock_timeout)
}

_DISK_FULL_TEXT = ("database or disk is full", "could not extend file", "no space left on device")
_SQLITE_UNREACHABLE_TEXT = ("unable to open database file", "disk i/o error")


def operational_failure(exc: BaseException) -> tuple[str, str] | None:
    """``(kind, detail)`` when ``exc`` or an exception it was raised from is an operational
    failure of the database (a key of ``OPERATIONAL_KINDS`` and the driver's first line),
    else ``None``. Works on the drivers' errors (psycopg, sqlite3), the library's wrappers
    of them (eventsourcing), ``OSError`` (ENOSPC) and our errors raised ``from`` them."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        wrapper = type(current).__module__.startswith("eventsourcing") and (
            current.__cause__ is not None)  # the library's wrapper: the driver's error decides
        kind = None if isinstance(current, JourneyError) or wrapper else _kind(current)
        if kind is not None:
            return kind, _first_line(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return None


def _kind(exc: BaseException) -> str | None:
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    names = {cls.__name__ for cls in type(exc).__mro__}
    driver = type(exc).__module__.split(".")[0]
    if "DiskFull" in names or any(t in text for t in _DISK_FULL_TEXT):
        return "disk_full"
    if isinstance(exc, sqlite3.Error) or driver == "eventsourcing":
        if "database is locked" in text or "database table is locked" in text:
            return "locked"
        if any(t in text for t in _SQLITE_UNREACHABLE_TEXT):
            return "unreachable"
    if driver == "psycopg_pool":
        return "unreachable"  # no connection came in time
    if driver == "psycopg":
        if connection_refusal(exc) is not None:
            return None  # a missing database or a refused login: retrying will not cure it
        state = getattr(exc, "sqlstate", None)
        if state is None:  # no server answer: refused, closed, timed out
            return "unreachable" if names & {"OperationalError", "InterfaceError"} else None
        return _SQLSTATE_KINDS.get(state) or _SQLSTATE_KINDS.get(state[:2])
    if driver == "eventsourcing" and names & {"OperationalError", "InterfaceError"}:
        return "unreachable"
    return None


#: Refusals of a connection attempt that no retry cures. libpq gives no SQLSTATE for them
#: (the text is all there is); a server error that carries one is matched by it.
_LOGIN_REFUSED_TEXT = ("password authentication failed", "authentication failed",
                       "no pg_hba.conf entry", "no password supplied",
                       "permission denied for database")
_REFUSAL_SQLSTATES = {"3D000": "database_missing", "28000": "login_refused",
                      "28P01": "login_refused"}


def connection_refusal(exc: BaseException) -> str | None:
    """``"database_missing"`` or ``"login_refused"`` when ``exc`` (a driver's error on
    connecting) is PostgreSQL refusing the database or the login, else ``None``."""
    state = getattr(exc, "sqlstate", None)
    if state is not None:
        return _REFUSAL_SQLSTATES.get(state)
    if type(exc).__name__ != "OperationalError":
        return None
    text = str(exc).lower()
    if 'role "' in text and "does not exist" in text:
        return "login_refused"
    if 'database "' in text and "does not exist" in text:
        return "database_missing"
    if any(t in text for t in _LOGIN_REFUSED_TEXT):
        return "login_refused"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class Backoff:
    """Waits between reconnection attempts: ``initial`` seconds doubling up to ``cap``;
    ``give_up_after`` seconds of failing without a success (``None``: never) ends the wait.

    The default comes from JOURNEY_MAX_OUTAGE (seconds, ``0``: never give up), else 900:
    a follower rides out restarts, failovers and a quarter of an hour of maintenance, then
    exits 75 so a supervisor notices.
    """

    def __init__(self, initial: float = 0.5, cap: float = 30.0,
                 give_up_after: float | None = None) -> None:
        if give_up_after is None:  # JOURNEY_MAX_OUTAGE, checked as every setting is
            give_up_after = max_outage_from()
        self.initial, self.cap, self.give_up_after = initial, cap, give_up_after
        self.attempt = 0
        self.failing_since: float | None = None

    def reset(self) -> None:
        """A success: the next failure starts again from ``initial``."""
        self.attempt, self.failing_since = 0, None

    def next_wait(self) -> float | None:
        """Count a failed attempt; the seconds to wait before the next, or ``None`` once
        the outage has lasted longer than ``give_up_after``."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        self.attempt += 1
        if self.give_up_after is not None and now - self.failing_since > self.give_up_after:
            return None
        wait: float = min(self.cap, self.initial * 2 ** (self.attempt - 1))
        return wait

    @property
    def outage(self) -> float:
        """Seconds since the first failure of the current outage (0 when none)."""
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since

    @staticmethod
    def sleep(seconds: float, stop: Callable[[], bool]) -> None:
        """Sleep ``seconds``, waking early once ``stop()`` turns true."""
        deadline = time.monotonic() + seconds
        while not stop() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))


def discard_broken_connections(datastore: object) -> None:
    """Before trying again after an outage: drop the pooled connections the outage broke
    (psycopg_pool's ``check()``), so the next attempt does not fail on each of them in turn
    (the pool otherwise finds a dead one only when it is used). SQLite: nothing to do."""
    check = getattr(getattr(datastore, "pool", None), "check", None)
    if callable(check):
        try:
            check()
        except Exception:  # still down: the attempt itself will say so
            return
