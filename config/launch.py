"""`make run`, after the embedded services are up: migrate, load demo data, start every process.

Runs honcho with the Procfile (web, worker, webhooks worker, beat) in the foreground; Ctrl-C or SIGTERM stops
them all, and `config.embedded` then stops PostgreSQL and Redis.
"""

from __future__ import annotations

import os
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


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def reset_metrics_directory() -> None:
    """Every process counts its metrics into files under PROMETHEUS_MULTIPROC_DIR (prometheus_client's
    multiprocess mode) and /metrics adds them up: one directory for all of them, emptied at start so
    the counts of processes from an earlier run are not summed in."""
    directory = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "var" / "prometheus")))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def main() -> int:
    os.environ.setdefault("PAYOUT_RUN_SECONDS", "180")  # the demo pays out every few minutes
    reset_metrics_directory()
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo")
    port = os.environ.get("PORT", "8000")
    print(f"\nOutlay is starting on http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{port}/admin/)")
    print("Demo logins - password 'outlay-demo' for all (demo data only, never in production):")
    for name, what in DEMO_USERS:
        print(f"  {name:8} {what}")
    print("Ctrl-C stops everything.\n", flush=True)
    # The Procfile's `python` and `celery` are this virtualenv's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.execvp(sys.executable, [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "start"])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
