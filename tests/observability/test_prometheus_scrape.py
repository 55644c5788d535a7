"""A real Prometheus (Debian's package) scrapes a running Outlay with the bearer token and
evaluates the shipped rules against what it scraped."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from config.embedded import free_port, wait_for_port
from observability.tests.test_alert_rules import RULES
from tests.support.processes import LOGS, wait_until

from .conftest import TOKEN

PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.worker, pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PROMETHEUS is None,
                       reason="PROMETHEUS MISSING: the real scrape is NOT TESTED (apt-get install prometheus)"),
]

CONFIG = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{rules}]
scrape_configs:
  - job_name: outlay
    metrics_path: /metrics
    authorization: {{credentials: {token}}}
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target_port: int) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(CONFIG.format(rules=RULES / "alerts.yml", token=TOKEN, port=target_port))
        port = free_port()
        log = open(LOGS / f"prometheus-{port}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, log))
        wait_for_port(port, 30, proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc, log in started:
        proc.terminate()
        proc.wait(15)
        log.close()


def _query(prometheus_url: str, expr: str) -> list[dict]:
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return body["data"]["result"] if body.get("status") == "success" else []


def test_a_real_prometheus_scrapes_the_stack_and_evaluates_the_rules(web_process, prometheus):
    web = web_process()
    url = prometheus(web.port)

    up = wait_until(lambda: _query(url, 'up{job="outlay"} == 1'), timeout=30, message="Prometheus scraping Outlay")
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{web.port}"
    audit = wait_until(lambda: _query(url, 'outlay_outbox_dead_letters{subscriber="audit.record"}'),
                       message="an outbox gauge in Prometheus")
    assert audit[0]["value"][1] == "0"
    # No worker runs in this stack: the NoCeleryWorker rule, evaluated by Prometheus on what it
    # scraped, is pending (it fires after its minute).
    alerts = wait_until(lambda: [a for a in httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                                 if a["labels"]["alertname"] == "NoCeleryWorker"], message="NoCeleryWorker pending")
    assert alerts[0]["state"] in {"pending", "firing"}
