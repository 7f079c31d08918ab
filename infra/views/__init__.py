"""Running the views: catch-up, follow, rebuild. The views themselves (each a fold and its
tables) live in ``journey.projections``.

``database``   the dialect: the locked write transaction, tracking positions, table checks
``decoder``    stored events decoded for the folds, converting only what views read
``feed``       a worker process that reads the log a batch ahead (rebuild, relay)
``projector``  the ``Projector`` (catch-up, follow, lag, rebuild)
``live``       ``view_queries``: the live views read (without importing the folds)
"""
