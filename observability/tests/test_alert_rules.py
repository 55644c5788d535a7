"""The shipped alerting rules are valid Prometheus rules and fire when they should
(``promtool``, from Debian's ``prometheus`` package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "prometheus"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="PROMTOOL MISSING: alert rules NOT CHECKED (apt-get install prometheus)")


@needs_promtool
def test_the_rules_file_passes_promtool_check():
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES / "alerts.yml")],
                            capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


@needs_promtool
def test_the_rules_fire_on_lag_dead_letters_and_a_missing_worker():
    result = subprocess.run([PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=RULES,
                            capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
