# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DEMO_DATA ?= data/demo

.PHONY: demo test install install-test messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What Hemma needs to run (the demo installs nothing more) ...
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# ... and what the tests and benchmarks need besides: Python's, and axe-core from npm, which
# the accessibility test injects into the browser (package.json; node_modules/ is not committed).
$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test node_modules/.installed

# Run Hemma with demo data on SQLite: http://127.0.0.1:$(PORT)/
demo: install
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma db upgrade
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma demo
	HEMMA_DATA_DIR=$(DEMO_DATA) $(BIN)/hemma serve --host $(HOST) --port $(PORT) --show-logins

# The whole suite: on SQLite always, and on PostgreSQL when HEMMA_TEST_DATABASE_URL is set
# (.ci/run sets it up); the browser tests use Debian's chromium.
test: install-test
	$(BIN)/python -m tests.run

messages: install
	$(BIN)/hemma i18n update

bench: install-test
	$(BIN)/python bench/homeward.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/visitday.py
	$(BIN)/python bench/planning.py
	$(BIN)/python bench/fhir.py

clean:
	rm -rf $(VENV) data .pytest_cache node_modules
