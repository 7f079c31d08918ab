"""``journey serve``: the engine on the network.

One ASGI application (FastAPI, run by uvicorn) with four doors onto the same services the
command line calls: the intake (``POST /v1/touchpoints``, ``intake``), the queries
(``GET /v1/...``, ``api``: each answer is the command line's ``--json`` document), the
dashboard (server-rendered pages and ``journey report``, ``dashboard``) and ``/metrics``
(``metrics``). ``access`` holds the bearer tokens and their roles; ``memo`` keeps the views'
answers per state of the log (asked once, recalled after); ``hot`` sends them, and takes the
views' answers a short way past FastAPI's routing; ``server`` wires it all.
"""
