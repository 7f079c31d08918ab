"""Failpoints: deterministic crashes at named places, for the crash tests.

``JOURNEY_FAILPOINTS="relay.after_flush=3"`` kills the process (SIGKILL, like ``kill -9``:
no cleanup, no flush) the third time the relay reaches ``failpoint("relay.after_flush")``;
``"ingest.committed=2:stop"`` stops it there instead (SIGSTOP: alive, holding whatever it
holds, until a test sends SIGCONT or SIGKILL). Unset (always, outside tests) a failpoint is
one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "JOURNEY_FAILPOINTS"


_ACTIONS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, rest = item.partition("=")
        count, _, action = rest.partition(":")
        points[name] = int(count or 1)
        _signals[name] = _ACTIONS[action or "kill"]
    return points


_signals: dict[str, signal.Signals] = {}
_armed = _parse(os.environ.get(ENV, ""))


def failpoint(name: str) -> None:
    """Die here if the failpoint ``name`` is armed and this is its n-th hit."""
    if name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] == 0:
        os.kill(os.getpid(), _signals[name])
