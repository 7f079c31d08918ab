"""The engine's adapters and doors (store, ingest, views, audit, Kafka, the command line).

Importing it makes the engine quiet as a library (``journey.infra.logs.library_default``):
its log lines follow the standard library's ``logging`` unless structlog is configured.
"""

from journey.infra.logs import library_default

library_default()
