"""`make run` survives a crashed process (issue 16, section 1).

The real launcher (`config.embedded` + `config.launch`, supervisor and its listener, the Procfile's
web, worker and beat) against the test database and an embedded Redis of its own. During a burst
of approvals the worker's main process is SIGKILLed (what the OOM killer does), later beat's:
the web keeps answering, `/readyz` says the process is down and then ok again within 15 s, and
every effect of every approval lands exactly once (the fault suite's checks). SIGINT afterwards
leaves no process behind, the embedded Redis included.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from config import launch
from config.embedded import free_port
from tests.faults import scenario
from tests.support.processes import LOGS, ROOT, process_env, wait_until

APPROVALS = 60
BACK_WITHIN_SECONDS = 15


class Launcher:
    """`python -m config.embedded -- python -m config.launch`, as `make run` starts it."""

    def __init__(self, run_dir) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        env = process_env(PORT=str(self.port), OUTLAY_RUN_DIR=str(run_dir), LOG_LEVEL="WARNING", DEBUG="false",
                          API_THROTTLE_USER="100000/minute", API_THROTTLE_ANON="100000/minute",
                          EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        env.pop("REDIS_URL")  # config.embedded starts a Redis of its own, and must stop it
        env.pop("OUTLAY_EXTRA_SUBSCRIBERS")
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"launcher-{os.getpid()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "config.embedded", "--", sys.executable, "-m",
                                      "config.launch"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def supervised(self, name: str) -> psutil.Process | None:
        """The main process of the Procfile's ``name``, as supervisord knows it (the webhooks
        worker is a `celery worker` too, so a command line cannot tell them apart)."""
        answer = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c",
                                 str(self.run_dir / "supervisord.conf"), "pid", name],
                                capture_output=True, text=True, check=False).stdout.strip()
        try:
            return psutil.Process(int(answer)) if answer.isdigit() and int(answer) > 0 else None
        except psutil.NoSuchProcess:
            return None

    def readiness(self) -> dict:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).json()["checks"]
        except (httpx.HTTPError, ValueError):
            return {}

    def stop(self) -> None:
        """After a failure: kill everything the launcher started (supervisord and the embedded
        servers run in sessions of their own, so the launcher's process group is not enough;
        the descendants are listed before anything is killed)."""
        if self.proc.poll() is None:
            leftovers = self.processes()
            os.killpg(self.proc.pid, signal.SIGKILL)
            for leftover in leftovers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
        self.log.close()


class Burst(threading.Thread):
    """POSTs approvals one after another at about ``rate`` per second; records every status
    (0: no answer)."""

    def __init__(self, url: str, token: str, paths: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.paths, self.rate = url, token, paths, rate
        self.statuses: list[int] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=30) as client:
            for path in self.paths:
                try:
                    self.statuses.append(client.post(path, json={}).status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
                time.sleep(1 / self.rate)


def kill_during_burst(launcher: Launcher, made: scenario.Scenario, paths: list[str], name: str) -> Burst:
    burst = Burst(launcher.url, made.token, paths, rate=6)
    burst.start()
    wait_until(lambda: len(burst.statuses) >= len(paths) // 3, timeout=30, message="the burst to be under way")
    victim = launcher.supervised(name)
    victim.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer does
    killed_at = time.monotonic()
    wait_until(lambda: launcher.readiness().get(name, "").startswith("down"), timeout=BACK_WITHIN_SECONDS,
               interval=0.1, message=f"/readyz to say {name}: down")
    # Restarted within 15 s is the supervisor's promise (its back-off is at most 5 s). How soon
    # the new process is ready depends on the machine (a Celery worker boots in 3-5 s on a quiet
    # one): the test waits for it generously and prints what it took.
    restarted = wait_until(lambda: (p := launcher.supervised(name)) and p.pid != victim.pid and p,
                           timeout=BACK_WITHIN_SECONDS, interval=0.1, message=f"{name} to be restarted")
    wait_until(lambda: launcher.readiness().get(name) == "ok", timeout=90, interval=0.2,
               message=f"/readyz to say {name}: ok again")
    print(f"{name}: SIGKILLed, restarted as pid {restarted.pid}, ready again after "
          f"{time.monotonic() - killed_at:.1f} s")
    burst.join(60)
    return burst


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(pid: int) -> str:
    try:
        return f"{pid}: {' '.join(psutil.Process(pid).cmdline())}"
    except psutil.NoSuchProcess:
        return f"{pid}: gone"


@pytest.mark.faults
@pytest.mark.worker
@pytest.mark.timeout(900)  # a bound for a hang only: on a quiet machine it takes about a minute
@pytest.mark.django_db(transaction=True)
def test_make_run_restarts_a_killed_worker_and_beat_and_every_effect_lands_once(tmp_path):
    made = scenario.create(APPROVALS, slug="supervision")
    launcher = Launcher(tmp_path / "run")
    try:
        wait_until(lambda: launcher.readiness() == {"database": "ok", "redis": "ok", "worker": "ok", "beat": "ok"},
                   timeout=300, interval=0.5, message="make run to become ready")
        started = launcher.processes()

        half = APPROVALS // 2
        first = kill_during_burst(launcher, made, made.paths[:half], "worker")
        second = kill_during_burst(launcher, made, made.paths[half:], "beat")

        # The web kept answering: every approval got its answer (200, or 409 where the budget ran out).
        statuses = first.statuses + second.statuses
        assert len(statuses) == APPROVALS and set(statuses) <= {200, 409} and 200 in statuses
        from events.models import Delivery

        wait_until(lambda: not Delivery.objects.filter(organization_id=made.org_id).exclude(status="done").exists(),
                   timeout=300, interval=0.5, message="every delivery to be done")
        figures, checks = scenario.check(made.org_id)
        assert all(checks.values()), (figures, checks)
        log = launcher.output()
        assert "exited: worker (terminated by SIGKILL; not expected)" in log
        assert "exited: beat (terminated by SIGKILL; not expected)" in log
        assert "supervision: worker marked down" in log and "supervision: beat marked down" in log

        everything = {p.pid for p in started + launcher.processes()}
        launcher.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert launcher.proc.wait(60) == 0 or launcher.proc.returncode in (-signal.SIGINT, 130)
        left = [describe(pid) for pid in everything if alive(pid)]
        assert left == [], left
    finally:
        launcher.stop()


def test_make_run_links_in_mails_follow_its_port_and_it_pays_out_every_three_minutes(tmp_path):
    env = {"PORT": "8123", "OUTLAY_RUN_DIR": str(tmp_path)}
    assert launch.run_environment(env) == tmp_path
    assert env["OUTLAY_BASE_URL"] == "http://127.0.0.1:8123" and env["PAYOUT_RUN_SECONDS"] == "180"
    given = {"PORT": "8123", "OUTLAY_BASE_URL": "https://outlay.example.com", "PAYOUT_RUN_SECONDS": "60"}
    launch.run_environment(given)
    assert given["OUTLAY_BASE_URL"] == "https://outlay.example.com" and given["PAYOUT_RUN_SECONDS"] == "60"


def test_every_procfile_process_is_restarted_with_back_off_and_stopped_as_a_group(tmp_path):
    config = configparser.RawConfigParser()
    config.read_string(launch.supervisor_config(tmp_path, launch.procfile()))
    programs = {section.removeprefix("program:") for section in config.sections() if section.startswith("program:")}
    assert programs == {"web", "worker", "webhooks", "beat"}
    for name in programs:
        section = config[f"program:{name}"]
        assert section["autorestart"] == "true"
        assert (section["startsecs"], section["startretries"]) == ("60", "5")
        assert section["stopasgroup"] == section["killasgroup"] == "true"
    # supervisor expands %(...)s itself: Celery's %h reaches the worker only doubled.
    assert "worker@%%h" in config["program:worker"]["command"]
    assert config["eventlistener:supervision"]["events"] == "PROCESS_STATE"
