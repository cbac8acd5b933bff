"""Run the service: the socket is bound first (a taken port is one line, exit 2), then
the guard loop starts and uvicorn serves until SIGTERM or SIGINT.

Shutdown order: uvicorn stops taking requests and finishes the ones in flight; the loop
finishes the evaluation in flight (up to loop.SHUTDOWN_GRACE seconds) and releases the
lease, so a standby takes over at its next look instead of after the TTL; exit 0.
"""
from __future__ import annotations

import signal
import socket
import threading

from rollout.errors import EXIT_OK, ExternalError, UserError
from rollout.serve.app import Service, build_app
from rollout.serve.logs import LOG_CONFIG, log
from rollout.serve.page import page_routes

CONCURRENCY = 100


def bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        # proto as getaddrinfo says (IPPROTO_TCP): asyncio sets TCP_NODELAY only on sockets
        # that say so, and without it every answer waits ~40 ms for a delayed ACK
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)        # connections wait in the backlog until uvicorn accepts
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen there "
                        f"({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def serve(service: Service) -> int:
    import uvicorn

    cfg = service.cfg
    sock = bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(
        build_app(service, routes=page_routes()), log_config=LOG_CONFIG, access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10, server_header=False,
        # beyond this many connections at once uvicorn answers 503 at once
        limit_concurrency=CONCURRENCY))
    # uvicorn re-raises the signal that stopped it once it has restored the handlers it
    # found: finding these, the re-raised SIGTERM ends nothing and the exit code is ours.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    log("listening", host=host, port=port, instance=cfg.instance, interval=cfg.interval,
        lease_ttl=cfg.lease_ttl, hook="enabled" if cfg.hook_problem is None
        else f"disabled: {cfg.hook_problem}", page=cfg.page_access.describe())
    service.loop.start()
    threading.Thread(target=service.page_data.prewarm, name="page-prewarm", daemon=True).start()
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:           # uvicorn's own startup failure
        raise ExternalError(f"the HTTP server did not start (uvicorn exit {exc.code})") from None
    finally:
        log("stopping", evaluating=service.loop.evaluating_since is not None)
        service.loop.stop()
        service.close()
        sock.close()
        log("stopped")
    return EXIT_OK
