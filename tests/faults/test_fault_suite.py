"""The short fault suite (`make faults` runs the 10,000-approval version)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import ROOT


@pytest.mark.faults
@pytest.mark.worker
def test_short_fault_suite_loses_nothing_and_duplicates_nothing():
    result = subprocess.run([sys.executable, "-m", "tests.faults.suite", "--approvals", "240", "--rate", "12"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    print(result.stdout[-8000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "12 passed, 0 failed" in result.stdout
