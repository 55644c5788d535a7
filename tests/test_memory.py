"""The web server's application leaves its start-up objects out of the collector's full passes
(``config/memory.py``): the ASGI module, loaded as uvicorn loads it, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _freeze_count(module: str) -> int:
    code = f"import gc, {module}; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_POOL": "0"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def test_the_asgi_application_freezes_what_it_loaded():
    # Django, DRF, the URLconf with every view: well over 50,000 objects in any version
    assert _freeze_count("config.asgi") > 50_000


def test_a_process_that_loads_only_settings_freezes_nothing():
    assert _freeze_count("config.settings") == 0


def test_objects_made_after_the_freeze_are_still_collected():
    code = ("import gc, weakref, config.asgi\n"
            "class Node: pass\n"
            "a, b = Node(), Node(); a.other, b.other = b, a; probe = weakref.ref(a); del a, b\n"
            "gc.collect(); print(probe() is None)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_POOL": "0"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "True"  # a cycle made later is freed as before
