"""``python -m config.serve`` (the web server with several processes): each process listens on
the port with a socket of its own, so connections opened together spread over the processes
instead of all landing on the one that accepted first (issue 24); a process that dies is
replaced; SIGTERM stops them all; a port already taken fails the start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from tests.support.processes import ROOT, WebProcess, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def web_processes(web: WebProcess) -> list[psutil.Process]:
    """The server's live processes (not multiprocessing's resource tracker, not one exited)."""
    found = []
    for child in psutil.Process(web.proc.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # a zombie the supervisor has not reaped yet
            pass
    return found


def listeners(web: WebProcess) -> int:
    return sum(1 for c in psutil.net_connections("tcp")
               if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == web.port)


def test_connections_opened_together_spread_over_the_processes():
    web = WebProcess(processes=2)
    try:
        wait_until(lambda: listeners(web) == 2, 60, message="both processes listening")
        children = web_processes(web)
        assert len(children) == 2
        # 32 keep-alive connections at once, as a load balancer's pool or the bench opens them
        clients = [socket.create_connection(("127.0.0.1", web.port)) for _ in range(32)]
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for client in clients:
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
        held = {child.pid: sum(1 for c in child.net_connections("tcp")
                               if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == web.port)
                for child in children}
        for client in clients:
            client.close()
        assert sum(held.values()) == 32
        # the kernel hashes each connection to a socket: both get a share (fewer than 6 of 32
        # on one side: about 1 in 17,000 runs, binomial)
        assert min(held.values()) >= 6, held
    finally:
        web.stop()


def test_a_dead_process_is_replaced_and_sigterm_stops_every_one():
    web = WebProcess(processes=2)
    try:
        wait_until(lambda: listeners(web) == 2, 60, message="both processes listening")
        first, _ = web_processes(web)
        first.kill()
        wait_until(lambda: len(web_processes(web)) == 2 and first.pid not in {p.pid for p in web_processes(web)}
                   and listeners(web) == 2, 60, message="a replacement process")
        assert httpx.get(f"{web.url}/healthz", timeout=5).status_code == 200

        survivors = web_processes(web)
        os.kill(web.proc.pid, signal.SIGTERM)
        assert web.proc.wait(30) == 0
        assert not [p for p in survivors if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        web.stop()


def test_a_port_already_in_use_fails_the_start_with_a_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "-m", "config.serve", "--processes", "2", "--port", str(port)],
                              cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert f"127.0.0.1:{port} is already in use" in done.stderr
    finally:
        taken.close()


def test_processes_that_cannot_start_stop_the_server_instead_of_restarting_forever():
    # the app fails as it imports (a settings module that does not exist): uvicorn exits 1, not
    # its start-up failure code, so it is the supervisor's count of quick exits that stops it
    from config.embedded import free_port

    done = subprocess.run([sys.executable, "-m", "config.serve", "--processes", "2", "--port", str(free_port()),
                           "--log-level", "warning"],
                          cwd=ROOT, env=process_env(DJANGO_SETTINGS_MODULE="no_such_settings"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "could not start" in done.stderr
    assert done.stderr.count("starting another") < 4
