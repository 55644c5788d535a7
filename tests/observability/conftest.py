from __future__ import annotations

import shutil

import pytest

from tests.support.processes import WebProcess

TOKEN = "test-metrics-token-0123456789"


@pytest.fixture
def metrics_env(tmp_path):
    """What every process of a stack under test shares for metrics: one token, and one empty
    prometheus_client multiprocess directory (its files are summed by ``/metrics``)."""
    directory = tmp_path / "prometheus-multiproc"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": TOKEN}


@pytest.fixture
def web_process(transactional_db, metrics_env):
    """Start the real ASGI server with ``start(**env)``; stopped after the test."""
    started: list[WebProcess] = []

    def start(**env: str) -> WebProcess:
        web = WebProcess(**{**metrics_env, **env})
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()
