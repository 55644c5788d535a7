"""`make test`, after the throw-away services are up: lint, import contracts, the pytest suite.

Exits non-zero on any failure, and when pytest ran no test (its exit code 5 would otherwise
look like success to a careless caller). Says loudly when the browser tests are skipped because
Debian's Chromium is not installed.

The suite runs as two pytest processes side by side, because most of it waits on one core: the
tests that start whole stacks of their own (schemathesis against a web process, the short fault
and cluster runs, supervision, the browser tests) in one, everything else in the other. Each has
its own test database (``test_<name>`` and ``test_<name>_stacks``), its own Redis database
number and its own media folder, so neither sees the other's rows, queues or files. The stack
group's output is printed whole after it ends (and kept in var/test-logs/stacks.txt). Given
paths, ``-k`` or ``-m`` (a targeted run), one pytest runs them as asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
PROMTOOL = "/usr/bin/promtool"
# Tests that bring up stacks of their own: run beside the rest (see the module docstring).
STACK_TESTS = ["tests/api/test_schemathesis.py", "tests/faults", "tests/cluster", "tests/test_supervision.py",
               "tests/browser"]


def step(title: str, command: list[str]) -> int:
    print(f"\n=== {title}: {' '.join(command)}", flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def cluster_skip_reason() -> str | None:
    """Why the cluster harness (tests/cluster) cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "haproxy"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def stack_group_env() -> dict[str, str]:
    """The stack group's own test database, Redis database number and media folder."""
    env = dict(os.environ)
    database = urlsplit(env["DATABASE_URL"])
    name = (database.path.strip("/") or "outlay") + "_stacks"
    env["DATABASE_URL"] = urlunsplit(database._replace(path=f"/{name}"))
    create_database(env.get("DATABASE_ADMIN_URL") or os.environ["DATABASE_URL"], name, owner=database.username)
    redis = urlsplit(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    number = int(redis.path.strip("/") or 0)
    env["REDIS_URL"] = urlunsplit(redis._replace(path=f"/{number + 1}"))
    env["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="media-stacks-", dir=ROOT / "var")
    return env


def create_database(server_url: str, name: str, owner: str | None) -> None:
    """The stack group's own database beside the app's (the fault suite and the bench stack use
    DATABASE_URL itself, not only the test database pytest-django makes from it)."""
    import psycopg

    url = urlunsplit(urlsplit(server_url.replace("postgres://", "postgresql://", 1))._replace(path="/postgres"))
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            owned = f" OWNER {psycopg.sql.Identifier(owner).as_string(conn)}" if owner else ""
            conn.execute(f"CREATE DATABASE {psycopg.sql.Identifier(name).as_string(conn)}{owned}")


def run_split(options: list[str]) -> dict[str, int]:
    """The stack tests and the rest, side by side; returns each group's pytest exit code."""
    logs = ROOT / "var" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_path = logs / "stacks.txt"
    stack_command = [sys.executable, "-m", "pytest", *options, *STACK_TESTS]
    rest_command = [sys.executable, "-m", "pytest", *options, *[f"--ignore={path}" for path in STACK_TESTS]]
    print(f"\n=== pytest, stack tests (output after they end, and in {out_path}): {' '.join(stack_command)}",
          flush=True)
    with open(out_path, "wb") as out:
        stacks = subprocess.Popen(stack_command, cwd=ROOT, env=stack_group_env(), stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            rest = step("pytest, the rest", rest_command)
            stack_code = stacks.wait()
        finally:
            if stacks.poll() is None:
                stacks.kill()
    print(f"\n=== pytest, stack tests: output of {' '.join(stack_command)}", flush=True)
    sys.stdout.write(out_path.read_text(errors="replace"))
    sys.stdout.flush()
    return {"pytest, the rest": rest, "pytest, stack tests": stack_code}


def main() -> int:
    failures = []
    if step("ruff", [str(BIN / "ruff"), "check", "."]) != 0:
        failures.append("ruff")
    if step("import contracts", [str(BIN / "lint-imports")]) != 0:
        failures.append("import contracts")
    if not os.path.exists(CHROMIUM):
        print("\n" + "!" * 78 + f"\n!! {CHROMIUM} is missing: the BROWSER TESTS WILL BE SKIPPED."
              "\n!! Install Debian's Chromium (apt-get install chromium) to run them.\n" + "!" * 78, flush=True)
    if not os.path.exists(PROMTOOL):
        print("\n" + "!" * 78 + f"\n!! {PROMTOOL} is missing: ALERT RULES and the REAL PROMETHEUS SCRAPE are SKIPPED."
              "\n!! Install Debian's Prometheus (apt-get install prometheus) to run them.\n" + "!" * 78, flush=True)
    cluster_skip = cluster_skip_reason()
    if cluster_skip:
        print("\n" + "!" * 78 + f"\n!! {cluster_skip}: the CLUSTER TESTS WILL BE SKIPPED.\n"
              "!! They need root, iproute2 and HAProxy (.ci/run installs them).\n" + "!" * 78, flush=True)
    args = sys.argv[1:] or []
    targeted = any(not a.startswith("-") or a in ("-k", "-m") for a in args)
    groups = run_split(args) if not targeted else {"pytest": step("pytest", [sys.executable, "-m", "pytest", *args])}
    for name, code in groups.items():
        if code == 5:
            print(f"{name} collected no tests: that is a failure, not a pass", flush=True)
        if code != 0:
            failures.append(f"{name} (exit {code})")
    if not os.path.exists(CHROMIUM):
        print(f"\nREMINDER: browser tests were skipped ({CHROMIUM} missing).", flush=True)
    if not os.path.exists(PROMTOOL):
        print(f"\nREMINDER: alert rules and the Prometheus scrape were skipped ({PROMTOOL} missing).", flush=True)
    if cluster_skip:
        print(f"\nREMINDER: cluster tests were skipped ({cluster_skip}).", flush=True)
    print("\n=== " + ("FAILED: " + ", ".join(failures) if failures else "all checks passed"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
