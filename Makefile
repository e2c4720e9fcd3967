# Kramar: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PG_URL ?= postgres://root@127.0.0.1:5432/kramar
export KRAMAR_DATA_DIR ?= $(CURDIR)/data

.PHONY: run test test-sqlite test-postgres install lint demo clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

## make run: install, migrate an SQLite database, load demo data once, serve on http://127.0.0.1:$(PORT)
run: install
	$(VENV)/bin/kramar migrate --no-input
	$(VENV)/bin/kramar demo --if-empty --contacts 2000 --seed 1
	$(VENV)/bin/kramar serve --port $(PORT)

## make test: the whole suite on SQLite, then on PostgreSQL when one is reachable
test: install
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory test-sqlite
	@if $(PY) scripts/pg_ready.py "$(PG_URL)"; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$KRAMAR_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable and KRAMAR_REQUIRE_POSTGRES is set: failing."; exit 1; \
	else \
		echo "PostgreSQL at $(PG_URL) is not reachable: SKIPPED the PostgreSQL run (SQLite run passed)."; \
	fi

test-sqlite: install
	@echo "== test suite on SQLite =="
	env -u DATABASE_URL $(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

test-postgres: install
	@echo "== test suite on PostgreSQL ($(PG_URL)) =="
	DATABASE_URL=$(PG_URL) $(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) data staticfiles
