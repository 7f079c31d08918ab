"""The domain: aggregates, their events and invariants, and the decider.

Stored events name their class by topic (``module:Class.Event``). Stores written before
the engine moved under the ``journey`` namespace hold ``domain.orders:Order.Placed``;
registering the old package name makes those topics resolve to the same classes.
"""

import sys

from eventsourcing.utils import register_topic

register_topic("domain", sys.modules[__name__])
