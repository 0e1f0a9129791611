# `make run` starts the daemon, `make test` runs the tests; both set themselves up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test unit engine lint bench clean

$(STAMP): pyproject.toml
	scripts/bootstrap-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# A Docker engine and the offline base images (minutes the first time, then seconds).
engine: $(STAMP)
	scripts/ensure-docker
	$(BIN)/hostd images bootstrap

run: $(STAMP)
	@$(MAKE) --no-print-directory engine || echo "make run: no Docker engine: hostd starts, deploys will fail until one answers" >&2
	$(BIN)/hostd serve

test: engine
	$(BIN)/python -m pytest

# The tests that need no Docker engine (tests/plugins/engine.py marks the others `docker`),
# one process per core: most of their time is daemons starting and timers running out.
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not docker" -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
