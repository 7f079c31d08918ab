"""What auditors ask of the log itself (the hash chain is the store's: ``store.chain``).

``verify``   ``journey audit verify``: recompute the chain, check the seals
``history``  an entity's or customer's events with the state after each; the views as
             they were (``--as-of``, ``--known-at``); ``audit replay``
``export``   stored events, byte for byte, in an Avro container file
``verify_export``  that file checked against the store, record by record
``files``    where an export goes: regular files only, created 0600, moved into place whole
"""
