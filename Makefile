# The README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests run against the real services on their default local ports.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/imaging_cds
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CACHE_KEY_PREFIX=icds-test

.PHONY: run test lint format venv deps deps-dev messages clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	touch $@

$(VENV)/.deps: requirements.lock $(VENV)/.created
	$(VENV)/bin/pip install -q -r requirements.lock
	touch $@

$(VENV)/.deps-dev: requirements-dev.lock $(VENV)/.created
	$(VENV)/bin/pip install -q -r requirements-dev.lock
	touch $@ $(VENV)/.deps

deps:
	.ci/ensure-system run
	$(MAKE) $(VENV)/.deps

deps-dev:
	.ci/ensure-system test
	$(MAKE) $(VENV)/.deps-dev

## make run: install, migrate SQLite, load the demo (and its pilot), start the demo PACS, serve on http://127.0.0.1:8000
run: deps
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py demo_load
	$(PY) manage.py demo_pilot
	@echo
	@echo "  imaging-cds is running: open http://$(HOST):$(PORT)/"
	@echo
	@# The demo PACS runs as its own process beside the server, and stops with it.
	@$(PY) manage.py pacs_demo_serve & pacs=$$!; \
	trap 'kill $$pacs 2>/dev/null; wait $$pacs 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

## make test: install what the tests need, start the services, run the whole suite
test: deps-dev
	.ci/ensure-services
	$(TEST_ENV) CI=$${CI:-false} $(PY) -m pytest $(PYTEST_ARGS)

lint: deps-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	.ci/audit

format: deps-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: deps-dev
	$(PY) manage.py makemessages -l fr -l en --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
