"""Real Celery worker and beat processes for tests about delivery, retries, crashes and ordering.

They run against the test database (the one pytest-django created) and the test run's Redis,
with short leases and a fast sweeper so that a test about a lost message takes seconds.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "test-logs"
_counter = itertools.count(1)

FAST_BUS = {
    "OUTBOX_SWEEP_SECONDS": "0.5",
    "OUTBOX_LEASE_SECONDS": "4",
    "OUTBOX_LEASE_MARGIN_SECONDS": "1",
    "OUTBOX_RETRY_BASE_SECONDS": "0.5",
    "OUTBOX_RETRY_CAP_SECONDS": "4",
}


def test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(FAST_BUS)
    env["DATABASE_URL"] = test_database_url()
    env["CONN_MAX_AGE"] = "0"
    env["OUTLAY_EXTRA_SUBSCRIBERS"] = "tests.support.subscribers"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class CeleryProcess:
    def __init__(self, kind: str, args: list[str], env: dict[str, str]) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = f"{kind}{next(_counter)}-{os.getpid()}"
        self.log_path = LOGS / f"{self.name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", kind, *args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: {text!r} not seen in {timeout}s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP the whole process group: it runs nothing (and takes no lock) until ``resume``."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def start_worker(*, concurrency: int = 2, queues: str = "default,events,fanout,webhooks", track=None,
                 pool: str = "prefork", ready_timeout: float = 30, **env: str) -> CeleryProcess:
    worker = CeleryProcess("worker", [
        "--loglevel", "INFO", "--queues", queues, "--concurrency", str(concurrency),
        "--pool", pool, "--without-mingle", "--without-gossip", "--hostname", f"w{next(_counter)}@%h",
    ], process_env(**env))
    if track is not None:
        track.append(worker)  # stopped by the fixture even if it never becomes ready
    worker.wait_for("ready.", timeout=ready_timeout)
    return worker


def start_beat(track=None, **env: str) -> CeleryProcess:
    schedule = LOGS / f"beat-{os.getpid()}-{next(_counter)}.schedule"
    beat = CeleryProcess("beat", ["--loglevel", "INFO", "--schedule", str(schedule), "--pidfile="],
                         process_env(**env))
    if track is not None:
        track.append(beat)
    beat.wait_for("maxinterval")
    return beat


def resume(procs: list[CeleryProcess]) -> None:
    """Let processes frozen by ``pause_between_transactions`` go on."""
    for proc in procs:
        proc.resume()


def pause_between_transactions(procs: list[CeleryProcess], timeout: float = 10) -> None:
    """Freeze ``procs`` at a moment when none of them is inside a transaction on the test database
    (stopped, then looked at: if one was mid-transaction, let it go on a moment and try again).
    What a module whose workers outlive its tests does before Django's flush, so that the flush's
    TRUNCATE never meets a worker's locks (a lock-order deadlock); ``resume`` them after."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            proc.pause()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                           "AND xact_start IS NOT NULL")
            (busy,) = cursor.fetchone()
        if not busy:
            return
        resume(procs)
        if time.monotonic() > deadline:  # never left frozen mid-transaction: the flush's retry copes
            return
        time.sleep(0.05)


def wait_until(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class WebProcess:
    """The real ASGI server (uvicorn: HTTP + websockets) against the test database."""

    def __init__(self, processes: int = 0, **env: str) -> None:
        """``processes``: served by ``config.serve`` with that many processes; 0, plain uvicorn."""
        from config.embedded import free_port

        LOGS.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = LOGS / f"web-{os.getpid()}-{next(_counter)}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        server = (["config.serve", "--processes", str(processes)] if processes
                  else ["uvicorn", "config.asgi:application"])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *server, "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=ROOT, env=process_env(**{"DEBUG": "false", "API_THROTTLE_USER": "100000/minute",
                                         "API_THROTTLE_ANON": "100000/minute", **env}),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        from config.embedded import wait_for_port

        wait_for_port(self.port, 30, self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
