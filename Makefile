# The two commands of the README: `make demo` and `make test`. Both set everything up on a
# fresh machine: the PostgreSQL binaries (Debian packages) if missing, the virtualenv, the package.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup sysdeps bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -e . --group test --group lint
	@touch $(STAMP)

setup: sysdeps $(STAMP)

# PostgreSQL server and client binaries: initdb/pg_ctl for the demo and the test server,
# pg_dump/pg_restore/psql for the engines. Installed from Debian's packages when missing.
sysdeps:
	@bash .ci/sysdeps.sh

demo: setup
	$(VENV)/bin/nchat-tui demo $(ARGS)

# The lint first (ruff with its complexity and import-reason rules, mypy, the import contracts),
# then the suite (tests/test_contracts.py checks the contracts again under plain pytest).
test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check nchat_tui screens tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: setup
	$(PY) -m pip install -q --group bench
	$(PY) bench/bench_backup.py
	$(PY) bench/bench_monitor.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
