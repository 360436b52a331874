# dockdash: `make run` serves the dashboard, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= $(or $(DOCKDASH_HOST),127.0.0.1)
PORT ?= $(or $(DOCKDASH_PORT),8000)

.PHONY: run test bench lint install install-test vendor clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e ".[test,scale]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

.local/secret_key:
	@mkdir -p .local
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@chmod 600 $@

# SECRET_KEY from the environment, else the generated, git-ignored .local/secret_key.
WITH_KEY = SECRET_KEY="$${SECRET_KEY:-$$(cat .local/secret_key)}"

run: install .local/secret_key
	@$(WITH_KEY) $(PY) manage.py migrate --noinput -v 0
	@$(WITH_KEY) $(PY) manage.py ensure_admin
	@$(WITH_KEY) $(PY) manage.py collectstatic --noinput -v 0
	@echo "dockdash: http://$(HOST):$(PORT)/  (engine: $${DOCKDASH_DOCKER_HOST:-$${DOCKER_HOST:-unix:///var/run/docker.sock}})"
	@$(WITH_KEY) $(VENV)/bin/daphne -b $(HOST) -p $(PORT) dashboard.asgi:application

# Two workers: most of a test's time is spent waiting on servers and the engine (three
# load two cores enough that live log and terminal pages time out).
test: install-test
	$(VENV)/bin/pytest -n 2 --no-loadscope-reorder

bench: install-test
	$(VENV)/bin/pytest -p no:cacheprovider -p no:xdist -s tests/bench -o testpaths=tests/bench -o python_files='*_bench.py' --timeout 1800

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy dashboard containers_app registry_app classes_app

vendor:
	scripts/vendor-static.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
