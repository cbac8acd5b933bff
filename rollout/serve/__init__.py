"""`rollout serve`: the always-on guard. One process runs the guard loop (led by a lease
in the store when several instances run) and a small HTTP service: liveness, status and
the New Relic webhook that asks for an immediate evaluation. See docs/serve.md.

    config.py      what the command line hands over (ServeConfig)
    checks.py      what must hold before it starts (a full git checkout of the flags)
    loop.py        the guard loop: lease, timed and requested evaluations, health facts
    hook.py        the webhook's checks: token, size, type, flags; its rate limits and log
    app.py         the Starlette application (routes; more can be added beside them)
    server.py      uvicorn on a socket bound up front, signals, orderly shutdown
    logs.py        JSON-lines logging on stderr
"""
