"""`make run`, after the embedded services are up: migrate, load demo data, run every process
under supervisor.

The processes are the Procfile's (web, worker, webhooks worker, beat). supervisord runs them in the foreground and
restarts one that exits on its own: at once if it had been up for a minute, otherwise after a
back-off that grows by a second per failed start (1, 2, 3, 4, 5 s); after five failed starts in a
row it gives up on that process (FATAL, logged) and the others keep running. So a process is
restarted at most six times in a minute. Every exit and start is logged (supervisor's own lines
and config.supervision's). Ctrl-C or SIGTERM stops them all, each as a process group (Celery's
pool children included), and `config.embedded` then stops PostgreSQL and Redis.

supervisord's files (its config, log, pid file and control socket) live in ``OUTLAY_RUN_DIR``
(default ``var/run``): ``supervisorctl -c var/run/supervisord.conf status`` shows the processes.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_USERS = [
    ("admin", "organisation admin + Django superuser, Acme"),
    ("finance", "finance, Acme"),
    ("maria", "manager, Acme (eve and ed report to her)"),
    ("mark", "manager, Acme (ella reports to him)"),
    ("eve", "employee, Acme"), ("ed", "employee, Acme"), ("ella", "employee, Acme"),
    ("gina", "manager, Globex"), ("gus", "employee, Globex"),
]
# A process counts as started once it stayed up this long; one that exits sooner is a failed start.
START_SECONDS = 60
# Failed starts in a row (each one second later than the last) before supervisor gives up.
START_RETRIES = 5
# Lower starts first and stops last: the web stops taking requests first, the worker finishes last.
PRIORITY = {"worker": 100, "beat": 200, "web": 300}


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The Procfile's processes: name -> shell command line."""
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def supervisor_config(run_dir: Path, processes: dict[str, str]) -> str:
    """supervisord's configuration for ``processes``; its own files live in ``run_dir``."""

    def escape(value: str) -> str:  # supervisor expands %(name)s in its values
        return value.replace("%", "%%")

    user = "user=root\n" if os.geteuid() == 0 else ""  # says so instead of warning that it runs as root
    # The control socket is the operator's (mode 0700) and needs this run's password as well.
    password = secrets.token_urlsafe(24)
    sections = [f"""[supervisord]
nodaemon=true
logfile={run_dir}/supervisord.log
logfile_maxbytes=10MB
logfile_backups=2
loglevel=info
pidfile={run_dir}/supervisord.pid
childlogdir={run_dir}
identifier=outlay
{user}
[unix_http_server]
file={run_dir}/supervisor.sock
chmod=0700
username=outlay
password={password}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run_dir}/supervisor.sock
username=outlay
password={password}

[eventlistener:supervision]
command={escape(shlex.join([sys.executable, "-m", "config.supervision"]))}
directory={ROOT}
events=PROCESS_STATE
priority=1
autorestart=true
stderr_logfile=/dev/stdout
stderr_logfile_maxbytes=0
"""]
    for name, command in processes.items():
        # Through the shell, as a Procfile means it (${PORT:-8000}); `exec` so that the pid supervisor
        # watches is the program's own, not a shell's.
        sections.append(f"""[program:{name}]
command={escape(shlex.join(["/bin/sh", "-c", f"exec {command}"]))}
directory={ROOT}
priority={PRIORITY.get(name, 400)}
autostart=true
autorestart=true
startsecs={START_SECONDS}
startretries={START_RETRIES}
stopsignal=TERM
stopwaitsecs=20
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
""")
    return "\n".join(sections)


def reset_metrics_directory() -> None:
    """Every process counts its metrics into files under PROMETHEUS_MULTIPROC_DIR (prometheus_client's
    multiprocess mode) and /metrics adds them up: one directory for all of them, emptied at start so
    the counts of processes from an earlier run are not summed in."""
    directory = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "var" / "prometheus")))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def run_environment(env: dict[str, str] | os._Environ) -> Path:
    """What `make run` sets unless the caller did (README, settings table); returns the run folder."""
    port = env.setdefault("PORT", "8000")
    env.setdefault("PAYOUT_RUN_SECONDS", "180")  # the demo pays out every few minutes
    env.setdefault("OUTLAY_BASE_URL", f"http://127.0.0.1:{port}")  # links in e-mails reach this server
    run_dir = Path(env.get("OUTLAY_RUN_DIR") or ROOT / "var" / "run").resolve()
    env["OUTLAY_RUN_DIR"] = str(run_dir)
    return run_dir


def main() -> int:
    run_dir = run_environment(os.environ)
    run_dir.mkdir(parents=True, exist_ok=True)
    reset_metrics_directory()
    port = os.environ["PORT"]
    # The Procfile's `python` and `celery` are this virtualenv's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo")
    config = run_dir / "supervisord.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)  # it holds the control socket's password
    config.write_text(supervisor_config(run_dir, procfile()))
    print(f"\nOutlay is starting on http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{port}/admin/)")
    print("Demo logins - password 'outlay-demo' for all (demo data only, never in production):")
    for name, what in DEMO_USERS:
        print(f"  {name:8} {what}")
    print(f"Processes: supervisorctl -c {config} status.  Ctrl-C stops everything.\n", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
