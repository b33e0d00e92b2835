# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DEMO_DATA ?= data/demo

# The locked dependencies (Python 3.11 on Linux, every file's SHA-256): what runs Hemma, and
# that plus what the tests and benchmarks need. `make lock` makes them again from pyproject.toml.
LOCK_RUN := requirements/run.txt
LOCK_TEST := requirements/test.txt
# FHIR R4's own models for the tests (fhir.resources 6.1 on pydantic 1), in a folder of their own.
LOCK_R4 := requirements/fhir-r4.txt
R4_DIR := $(VENV)/fhir-r4
UV := uv==0.13.8

.PHONY: demo test install install-test lock messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What Hemma needs to run (the demo installs nothing more), exactly as locked ...
$(VENV)/.installed: $(LOCK_RUN) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_RUN)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# ... and what the tests and benchmarks need besides: Python's, and axe-core from npm, which
# the accessibility test injects into the browser (package.json; node_modules/ is not committed).
$(VENV)/.installed-test: $(LOCK_TEST) $(VENV)/.installed
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_TEST)
	touch $@

# ... and FHIR R4's models, which need pydantic 1: beside the venv's packages, not among them
# (tests/fhir/validate.py runs them in a process of their own).
$(R4_DIR)/.installed: $(LOCK_R4) | $(BIN)/python
	rm -rf $(R4_DIR)
	$(BIN)/pip install --quiet --require-hashes --no-deps --target $(R4_DIR) -r $(LOCK_R4)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(R4_DIR)/.installed node_modules/.installed

# Run Hemma with demo data on SQLite: http://127.0.0.1:$(PORT)/
demo: install
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma db upgrade
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma demo
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma serve --host $(HOST) --port $(PORT) --show-logins

# The whole suite: on SQLite always, and on PostgreSQL when HEMMA_TEST_DATABASE_URL is set
# (.ci/run sets it up); the browser tests use Debian's chromium.
test: install-test
	$(BIN)/python -m tests.run

# Resolve pyproject.toml's dependencies again into the two locks, and requirements/fhir-r4.in
# into its own (newest versions allowed; `make lock UPGRADE=` keeps the locked ones where they
# still fit), with uv in a venv of its own.
UPGRADE ?= --upgrade
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet $(UV)
	.venv-lock/bin/uv pip compile pyproject.toml --extra test $(UPGRADE) --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
		--quiet -o $(LOCK_TEST)
	.venv-lock/bin/uv pip compile pyproject.toml -c $(LOCK_TEST) --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
		--quiet -o $(LOCK_RUN)
	.venv-lock/bin/uv pip compile requirements/fhir-r4.in $(UPGRADE) --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
		--quiet -o $(LOCK_R4)
	rm -rf .venv-lock

messages: install
	$(BIN)/hemma i18n update

bench: install-test
	$(BIN)/python bench/homeward.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/visitday.py
	$(BIN)/python bench/planning.py
	$(BIN)/python bench/fhir.py

clean:
	rm -rf $(VENV) .venv-lock data .pytest_cache node_modules
