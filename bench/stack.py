"""Start and stop the whole stack for a benchmark run: PostgreSQL, Redis, web, workers, beat.

Uses the same embedded servers as `make run` (or DATABASE_URL / REDIS_URL when given), in a
throw-away folder under var/, so a run never touches the demo data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from config.embedded import VAR, EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "bench" / "results" / "logs"


def wait_for_listeners(port: int, count: int, timeout: float) -> None:
    """Until ``count`` sockets listen on ``port``: every web process is up, so the load that
    follows spreads over all of them."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listening = [c for c in psutil.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
        if len(listening) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"fewer than {count} web processes listen on {port}")


class Stack:
    def __init__(self) -> None:
        VAR.mkdir(exist_ok=True)  # a fresh checkout has no var/ yet (`make run` creates it, this may run first)
        self.base = Path(tempfile.mkdtemp(prefix="bench-", dir=VAR))
        self.pg: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_port = free_port()
        # The checkout whose code the web, worker and beat processes run: this one, or a baseline
        # commit's extracted copy (bench/run.py, BENCH_BASELINE) on the same services.
        self.code = ROOT
        LOGS.mkdir(parents=True, exist_ok=True)

    # --- services -------------------------------------------------------------------------------
    def start_services(self) -> None:
        if not self.database_url:
            self.pg = EmbeddedPostgres(self.base / "postgres")
            self.pg.start()
            self.database_url = self.pg.url
        if not self.redis_url:
            self.redis = EmbeddedRedis(self.base / "redis", persist=False)
            self.redis.start()
            self.redis_url = self.redis.url
        os.environ["DATABASE_URL"] = self.database_url
        os.environ["REDIS_URL"] = self.redis_url

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "LOG_LEVEL": "WARNING",
                    "API_THROTTLE_USER": "1000000/minute", "API_THROTTLE_ANON": "1000000/minute",
                    "OUTLAY_EXTRA_SUBSCRIBERS": "bench.subscribers", "PYTHONUNBUFFERED": "1",
                    "DEBUG": "0"})  # measure as production runs: no query log
        env.update(extra)
        return env

    def manage(self, *args: str, **env: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(**env), check=True)

    # --- processes ------------------------------------------------------------------------------
    def spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        self.stop(name)
        log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(command, cwd=self.code, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self, workers: int = 1, **env: str) -> None:
        # BENCH_WEB_SERVER=uvicorn: `uvicorn --workers` even where config.serve exists (to compare)
        if (self.code / "config" / "serve.py").exists() and os.environ.get("BENCH_WEB_SERVER") != "uvicorn":
            # a listening socket per process (config/serve.py), so connections spread over them
            command = ["-m", "config.serve", "--processes", str(workers)]
        else:  # a checkout from before config.serve (the bench's baseline commit)
            command = ["-m", "uvicorn", "config.asgi:application", "--workers", str(workers), "--no-access-log"]
        self.spawn("web", [sys.executable, *command, "--host", "127.0.0.1", "--port", str(self.web_port),
                           "--log-level", "warning"], **env)
        wait_for_port(self.web_port, 120, self.procs["web"])  # a loaded 2-core machine takes > 30 s
        wait_for_listeners(self.web_port, workers if command[1] == "config.serve" else 1, 120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.web_port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("web did not answer /healthz")

    def start_workers(self, count: int = 1, concurrency: int = 2, **env: str) -> None:
        for i in range(count):
            self.spawn(f"worker{i}", [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel",
                                      "WARNING", "--queues", "default,events,fanout", "--concurrency", str(concurrency),
                                      "--without-mingle", "--without-gossip", "--hostname", f"bench{i}@%h"], **env)
        self.wait_for_workers(count)

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        """Until every worker node answers a ping: a scenario that starts its load while a node is
        still booting measures the boot (the first deliveries wait seconds), not the system."""
        from celery import current_app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if len(current_app.control.ping(timeout=1.0) or []) >= count:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{count} worker node(s) did not answer a ping within {timeout:.0f} s")

    def stop_workers(self) -> None:
        for name in [n for n in self.procs if n.startswith("worker")]:
            self.stop(name)

    def start_beat(self, **env: str) -> None:
        self.spawn("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
                            "--schedule", str(self.base / "beat.schedule"), "--pidfile="], **env)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.stop()
            # Keep the server's log beside the process logs: connection errors show up only there.
            with contextlib.suppress(OSError):
                shutil.copy(self.pg.data_dir / "server.log", LOGS / "postgres.log")
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"
