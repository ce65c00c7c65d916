# Two commands do everything on a fresh machine (Python 3.11+ and make):
#   make local   start Stratus on http://127.0.0.1:5000
#   make test    run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser localstack local test test-unit test-integration test-e2e lint template-check serving-image bench bench-compare bench-load conformance clean

$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e ./client
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium and its driver for tests/e2e/test_ui_browser.py: Debian's packages, installed once (as root, or
# through sudo), so that the driver always matches the browser.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# LocalStack on the host, no Docker (docs/localstack.md), for the [localstack] half of tests/integration: installed
# once into ~/.cache/stratus/localstack (needs a Python 3.13 and Java 17+); the tests start and stop it themselves.
localstack: setup
	$(BIN)/python tests/localstack_host.py setup

local: setup
	$(BIN)/stratus local $(ARGS)

test: setup browser localstack
	$(BIN)/python -m ruff check layers functions client runner serving tests
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-integration: setup
	$(BIN)/python -m pytest -q tests/integration

test-e2e: setup browser
	$(BIN)/python -m pytest -q tests/e2e

lint: setup
	$(BIN)/python -m ruff check layers functions client runner serving tests
	$(BIN)/python -m ruff format --check layers functions client runner serving tests

template-check:
	bash .ci/sam-checks.sh

# The serving base image of model deployments, built by the deployed stack's CodeBuild project (docs/deployments.md).
serving-image:
	@test -n "$(STACK)" || { echo "usage: make serving-image STACK=<stack name>"; exit 1; }
	bash serving/build/build-base-image.sh "$(STACK)"

bench: setup
	$(BIN)/python -m benchmarks.tracking
	$(BIN)/python -m benchmarks.artifacts
	$(BIN)/python -m benchmarks.run_page

# Stratus against `mlflow server` on the same machine, same workloads, with what AWS would bill (docs/benchmarks.md).
# Full size takes about an hour here; ARGS="--quick" is a smoke run.
bench-compare: setup
	$(BIN)/python -m benchmarks.compare $(ARGS)

# 100,000 metric points through stratus local, counted at the end (docs/security.md).
bench-load: setup
	$(BIN)/python -m benchmarks.load $(ARGS)

# MLflow's own server tests (tests/tracking/test_rest_tracking.py, test_model_registry.py of MLflow v3.17.2, fetched
# into ~/.cache/stratus, never into this repo) against stratus local and the reference mlflow server
# (docs/mlflow-validation.md). About 10 minutes; ARGS="--isolate" re-runs the tests that need an empty server alone
# (about 50 more), ARGS="--mlflow-src DIR" uses an MLflow checkout you already have.
conformance: setup
	$(BIN)/python -m benchmarks.conformance $(ARGS)

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache
