"""The short cluster run in `make test` (issue 23): two faults, a few hundred approvals, on real
network namespaces. `make cluster` runs every fault and the scaling measurements.

Skips (loudly) where the machine does not allow network namespaces (not root, no iproute2) or
has no HAProxy (`.ci/run` installs both).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.cluster.network import available, sweep_leftovers
from tests.support.processes import ROOT

WHY_NOT = available() or (None if shutil.which("haproxy") else "HAProxy is not installed (apt-get install haproxy)")
if WHY_NOT:
    print("\n" + "!" * 78 + f"\n!! THE CLUSTER TESTS ARE SKIPPED: {WHY_NOT}\n" + "!" * 78, file=sys.stderr)


@pytest.mark.faults
@pytest.mark.cluster
@pytest.mark.skipif(bool(WHY_NOT), reason=f"cluster harness cannot run here: {WHY_NOT}")
@pytest.mark.timeout(900)
def test_short_cluster_run_partitions_lose_nothing_and_duplicate_nothing():
    harness = subprocess.Popen([sys.executable, "-m", "tests.cluster.harness", "--short"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = harness.communicate(timeout=880)
    except subprocess.TimeoutExpired:
        harness.terminate()  # SIGTERM: the harness deletes its namespaces and processes itself
        output, _ = harness.communicate(timeout=120)
        pytest.fail("the short cluster run did not finish in 880 s:\n" + output[-12000:])
    finally:
        sweep_leftovers()  # a harness that died anyway leaves nothing for the next test
    print(output[-12000:])
    assert harness.returncode == 0, output[-12000:]
    assert ", 0 failed" in output
