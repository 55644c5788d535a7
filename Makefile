# Outlay: `make run` runs the whole product, `make test` runs the whole test suite.
# Both need only Python 3.11: the virtualenv, PostgreSQL and Redis come from PyPI wheels.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test lint bench faults cluster screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: embedded PostgreSQL + Redis (unless DATABASE_URL/REDIS_URL are set), migrate, demo data,
##      then web + worker + beat under supervisor (restarted when they die) on http://127.0.0.1:$(PORT)
run: $(STAMP)
	PORT=$(PORT) $(PY) -m config.embedded -- $(PY) -m config.launch

## test: a throw-away PostgreSQL + Redis, the whole pytest suite, ruff and the import contracts
test: $(STAMP)
	$(PY) -m config.embedded --ephemeral -- $(PY) -m config.testrun

## bench: the benchmark report (bench/results/latest.md), then the webhooks one
##        (bench/results/webhooks-*.md); never part of `make test`. BENCH_BASELINE is the commit the
##        approvals/s scenario runs against side by side (5488ab5: where issue 24's work started)
BENCH_BASELINE ?= 5488ab5
bench: $(STAMP)
	BENCH_BASELINE=$(BENCH_BASELINE) $(PY) bench/run.py
	$(PY) -m config.embedded --ephemeral -- $(PY) bench/webhooks.py

## faults: the long fault suite (10,000 approvals under injected faults); prints every figure
faults: $(STAMP)
	$(PY) -m tests.faults.suite --approvals 10000 --rate 40

## cluster: Outlay on nine network-namespace hosts under every partition fault of issue 23, and
##          throughput at 1, 2 and 4 worker processes; report in tests/cluster/results/ (needs root,
##          iproute2 and HAProxy: `.ci/run` installs them)
cluster: $(STAMP)
	$(PY) -m tests.cluster.harness

## screenshots: regenerate docs/screenshots/*.png of the main pages (needs /usr/bin/chromium)
screenshots: $(STAMP)
	$(PY) -m config.embedded --ephemeral -- $(PY) -m tests.browser.screenshots

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf var/embedded-* var/postgres var/redis var/*.port
