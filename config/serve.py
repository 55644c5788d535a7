"""The web server: uvicorn in ``--processes`` processes, each listening on the port with a socket
of its own (``SO_REUSEPORT``), so the kernel spreads new connections evenly over them.

``uvicorn --workers N`` shares one listening socket between its processes, and whichever process
is awake first accepts every connection waiting: keep-alive clients that connect together (a
load balancer's pool, the bench's 32 clients) all land on one process. Measured in the bench's
approve run at concurrency 8 and 32 (``ss -tnp`` sampled every 3 s, issue 24): 8 of 8
connections on one process, then 9/23, 7/25 and 32/0, while the other process sat idle and the
requests queued on the busy one. With a socket per process the kernel hashes each new connection
to one of the listening sockets.

One process (the default, and the Procfile's) is plain uvicorn with its own socket and no
``SO_REUSEPORT``. With more, the supervisor here starts them, restarts one that dies (and stops, exit 1, when
they keep dying as they start), passes
SIGTERM and SIGINT on (each finishes its requests, as uvicorn does) and exits when all have. A
port already taken fails the start, before any process is spawned: ``SO_REUSEPORT`` would
otherwise let this server share the port with whatever else holds it.

    python -m config.serve --host 127.0.0.1 --port 8000 --processes 2 [--log-level warning]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time

APP = "config.asgi:application"
STARTUP_FAILURE = 3  # uvicorn's exit code when the app or the socket cannot start
log = logging.getLogger("outlay.serve")


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "1")),
                        help="web processes (WEB_PROCESSES, default 1): about one per core")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    found = parser.parse_args(argv)
    if found.processes < 1:
        parser.error("--processes must be 1 or more")
    return found


def listening_socket(host: str, port: int, *, share: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(found: argparse.Namespace, *, share: bool) -> None:
    """One uvicorn server on a socket of its own (run in each process)."""
    import uvicorn

    try:
        sock = listening_socket(found.host, found.port, share=share)
    except OSError as error:
        print(f"config.serve: cannot listen on {found.host}:{found.port}: {error}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(APP, host=found.host, port=found.port, log_level=found.log_level,
                            access_log=found.access_log, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


def port_is_free(host: str, port: int) -> bool:
    try:
        listening_socket(host, port, share=False).close()
    except OSError:
        return False
    return True


class Supervisor:
    """Starts the processes and keeps them running. A process that exits within ``SETTLE_SECONDS``
    of its start did not start (the app failed to import, the port, the settings): after
    ``QUICK_EXITS`` of those in a row the server stops (exit 1) instead of restarting forever."""

    SETTLE_SECONDS = 20.0
    QUICK_EXITS = 3

    def __init__(self, found: argparse.Namespace) -> None:
        self.found = found
        self.context = multiprocessing.get_context("spawn")  # each process imports Django itself
        self.children: list[tuple[multiprocessing.Process, float]] = []
        self.quick_exits = 0
        self.stopping = False

    def start_one(self) -> tuple[multiprocessing.Process, float]:
        child = self.context.Process(target=serve, args=(self.found,), kwargs={"share": True}, daemon=False)
        child.start()
        return child, time.monotonic()

    def stop(self, signum, frame) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.children = [self.start_one() for _ in range(self.found.processes)]
        code = 0
        while not self.stopping:
            time.sleep(0.2)
            for index, (child, started) in enumerate(self.children):
                if child.is_alive() or self.stopping:
                    continue
                quick = time.monotonic() - started < self.SETTLE_SECONDS
                self.quick_exits = self.quick_exits + 1 if quick else 0
                if child.exitcode == STARTUP_FAILURE or self.quick_exits >= self.QUICK_EXITS:
                    log.error("web process %s could not start (exit %s); stopping", child.pid, child.exitcode)
                    self.stopping, code = True, 1
                    break
                log.warning("web process %s exited (%s); starting another", child.pid, child.exitcode)
                self.children[index] = self.start_one()
        for child, _ in self.children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child, _ in self.children:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join()
        return code


def main(argv: list[str] | None = None) -> int:
    found = options(argv)
    logging.basicConfig(level=found.log_level.upper(), format="%(levelname)s: %(message)s")
    if found.processes == 1:
        serve(found, share=False)
        return 0
    if not port_is_free(found.host, found.port):
        print(f"config.serve: {found.host}:{found.port} is already in use", file=sys.stderr)
        return 1
    return Supervisor(found).run()


if __name__ == "__main__":
    sys.exit(main())
