# Every target bootstraps what it needs: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PO := marketplace/translations/zh/LC_MESSAGES/messages.po
MO := marketplace/translations/zh/LC_MESSAGES/messages.mo
HOST ?= 127.0.0.1
PORT ?= 5000
DEV := MARKETPLACE_ENV=development FLASK_APP=app PUBLIC_URL=http://$(HOST):$(PORT)

.PHONY: bootstrap run test lint format translations clean bench bench-search

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(MO): $(PO) $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d marketplace/translations -D messages

bootstrap: $(STAMP) $(MO)

run: bootstrap
	@mkdir -p instance
	@$(DEV) $(BIN)/flask db upgrade
	@$(DEV) $(BIN)/flask seed-demo --if-empty
	@$(DEV) $(BIN)/flask demo-logins
	@echo "Serving on http://$(HOST):$(PORT); the job worker and its scheduler run beside it"
	@$(DEV) $(BIN)/celery -A marketplace.jobs worker --beat --pool=solo --loglevel=WARNING \
		--schedule instance/celerybeat-schedule & WORKER=$$!; \
	trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	$(DEV) $(BIN)/flask run --host $(HOST) --port $(PORT)

# The whole suite on SQLite; again on PostgreSQL when TEST_DATABASE_URL names a database.
test: bootstrap
	env -u TEST_DATABASE_URL $(PY) -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the suite again on PostgreSQL =="; \
		$(PY) -m pytest $(PYTEST_ARGS); \
	fi

BENCH_DB ?= sqlite:////tmp/marketplace-bench.sqlite3
bench: bootstrap  # the 100x dataset, then the served app under load (see bench/RESULTS.md)
	$(PY) bench/dataset.py $(BENCH_DB)
	$(PY) bench/run.py $(BENCH_DB)
	$(PY) bench/jobs.py $(BENCH_DB)
	@if [ -n "$(BENCH_DATABASE_URL)" ]; then \
		$(PY) bench/dataset.py $(BENCH_DATABASE_URL) && $(PY) bench/run.py $(BENCH_DATABASE_URL); fi

BENCH_SEARCH_DB ?= sqlite:////tmp/marketplace-bench-search.sqlite3
SEARCH_SCENARIOS := --only catalogue,search,search-api
bench-search: bootstrap  # a 100,000-package catalogue: cached and uncached search (bench/RESULTS.md)
	$(PY) bench/dataset.py $(BENCH_SEARCH_DB) --packages 100000
	$(PY) bench/run.py $(BENCH_SEARCH_DB) $(SEARCH_SCENARIOS)
	@if [ -n "$(BENCH_DATABASE_URL)" ]; then \
		$(PY) bench/dataset.py $(BENCH_DATABASE_URL) --packages 100000 && \
		$(PY) bench/run.py $(BENCH_DATABASE_URL) $(SEARCH_SCENARIOS); fi

lint: bootstrap
	$(BIN)/ruff check marketplace tests app.py setup.py deploy bench
	$(BIN)/ruff format --check marketplace tests app.py setup.py deploy bench
	$(BIN)/mypy

format: bootstrap
	$(BIN)/ruff check --fix marketplace tests app.py setup.py deploy bench
	$(BIN)/ruff format marketplace tests app.py setup.py deploy bench

# Extract messages and merge them into the Chinese catalogue (then translate and commit it).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k lazy_gettext -k lazy_ngettext:1,2 -o marketplace/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i marketplace/translations/messages.pot -d marketplace/translations -l zh --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(MO)
