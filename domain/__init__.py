"""The domain: aggregates, their events and invariants, and the decider.

Stores written before the engine's modules moved under ``journey`` name their events by
the old module path; ``legacy_topics`` lets them read as before.
"""
