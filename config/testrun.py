"""`make test`, after the throw-away services are up: lint, import contracts, the pytest suite.

Exits non-zero on any failure, and when pytest ran no test (its exit code 5 would otherwise
look like success to a careless caller). Says loudly when the browser tests are skipped because
Debian's Chromium is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
PROMTOOL = "/usr/bin/promtool"


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
    code = step("pytest", [sys.executable, "-m", "pytest", *args])
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass", flush=True)
    if code != 0:
        failures.append(f"pytest (exit {code})")
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
