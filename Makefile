# `make run` starts the daemon, `make test` runs the tests; both set themselves up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Python's bytecode cached as it is by default: every daemon a test starts, and every
# pytest process, would otherwise compile hostd and the tests again (a shell that sets
# this for its own work costs the suite seconds of CPU per process).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test unit installs scenarios fuzz engine postgres browser lint bench bench-dashboard clean

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

# The modules that talk to the database run a second time with every daemon on a
# PostgreSQL database of its own (tests/plugins/postgres.py; about a minute more).
PG_TESTS := tests/test_auth_api.py tests/test_projects_api.py tests/test_persistence.py \
	tests/test_validation.py tests/test_env_api.py tests/test_pool_pressure.py \
	tests/test_schema_upgrade.py tests/test_database_url.py tests/harden/test_crash.py \
	tests/test_lean_reads.py tests/test_read_cache.py tests/contract tests/test_quotas.py \
	tests/test_registration.py tests/test_cron_store.py

# A throwaway PostgreSQL on 127.0.0.1 for the second backend. When it cannot start, the
# PostgreSQL tests say so: they fail under CI and skip elsewhere.
postgres:
	scripts/ensure-postgres || echo "make: no PostgreSQL: the --db postgres tests will fail (CI) or skip" >&2

# Debian's Chromium for the dashboard's browser tests (tests/plugins/browser.py). When it
# cannot be installed, those tests say so: they fail under CI and skip elsewhere.
browser:
	scripts/ensure-browser || echo "make: no browser: the dashboard's browser tests will fail (CI) or skip" >&2

# Everything but the long scenarios: the tests that need no engine first, four processes
# at once (as `make unit`: most of their time is daemons starting and timers running out,
# so more processes than cores help); then those that do, two processes at once, a test
# module each (each process has its own daemons, labels and bases; their time is mostly
# waiting on the engine and on apps), naming the slowest; then, alone, the `engine_wide`
# ones (a prune of bases; the `engine_restart` ones, last, stop the engine); then the
# database modules again on PostgreSQL. (Run beside the engine's, the no-engine tests
# lost a dashboard test now and then to the CPU the builds took.)
test: engine postgres browser
	$(BIN)/python -m pytest -m "not docker and not installs and not scenario" -n 4 --dist worksteal
	$(BIN)/python -m pytest -m "docker and not engine_wide and not installs and not scenario" \
		-n 2 --dist loadfile --durations=20
	$(BIN)/python -m pytest -m "docker and engine_wide and not installs and not scenario"
	$(BIN)/python -m pytest --db postgres -n auto --dist loadfile $(PG_TESTS)

# Forty installs come and go on one engine (a deploy each; half uninstalled, half left
# behind), then a new one deploys and a plain network is still made: a few minutes, so
# not in `make test` (pytest's `-m 'not installs'`). CI runs it after `make test`.
installs: engine
	$(BIN)/python -m pytest -m installs tests/deploy/test_installs.py

# Real-engine scenarios of minutes (pytest's `-m scenario`), not in `make test`: cron jobs
# on `* * * * *` run at their times (tests/deploy/test_cron.py, about two minutes); web
# replicas redeployed at 200 req/s and killed under traffic (tests/deploy/
# test_replicas_traffic.py, under a minute).
scenarios: engine
	$(BIN)/python -m pytest -m scenario tests/deploy/test_cron.py \
		tests/deploy/test_replicas_traffic.py

# The API fuzzed at length: schemathesis makes 60 cases of each operation, valid and
# invalid (`make test` makes 8), against a daemon on the fake engine. CI runs it too.
fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/harden/test_fuzz.py --fuzz-examples 60

# The fast tier: the tests that need no Docker engine (tests/plugins/engine.py marks the
# others `docker`), no browser (tests/plugins/browser.py: `browser`) and are not `slow`
# (the fuzzing and the mixed load); `make test` runs those too. Four processes at once:
# most of their time is daemons starting and timers running out.
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not docker and not browser and not scenario and not slow" -q \
		-n 4 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/api.py

bench-dashboard: $(STAMP) browser
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
