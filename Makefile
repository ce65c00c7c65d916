# Two commands do everything on a fresh machine (Python 3.11+ and make):
#   make local   start Stratus on http://127.0.0.1:5000
#   make test    run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup local test test-unit test-integration test-e2e lint template-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

local: setup
	$(BIN)/stratus local $(ARGS)

test: setup
	$(BIN)/python -m ruff check layers functions tests
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-integration: setup
	$(BIN)/python -m pytest -q tests/integration

test-e2e: setup
	$(BIN)/python -m pytest -q tests/e2e

lint: setup
	$(BIN)/python -m ruff check layers functions tests
	$(BIN)/python -m ruff format --check layers functions tests

template-check:
	bash .ci/sam-checks.sh

bench: setup
	$(BIN)/python -m benchmarks.tracking
	$(BIN)/python -m benchmarks.artifacts

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache
